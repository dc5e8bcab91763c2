"""/settings: language, default style, aspect, pictures per request, prompt improvement; /styles."""

from __future__ import annotations

from collections.abc import Mapping

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from locales import LOCALES, Texts, Translator

from .callbacks import SettingsCb, pack_value
from .common import ASPECT_CHOICES, STYLES_PER_ROW, marked, page_of, pages

COUNTS: tuple[int, ...] = (1, 2, 3, 4)


def _button(text: str, user: int, act: str, val: str = "") -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=SettingsCb(user=user, act=act, val=val).pack())


def settings_keyboard(
    texts: Texts,
    translator: Translator,
    user: int,
    locale: str,
    style_name: str,
    aspect: str,
    count: int,
    beautify: bool,
    *,
    offer_beautify: bool,
) -> InlineKeyboardMarkup:
    """offer_beautify: whether the "✨ improve prompts" toggle is shown (the server has a prompt LLM)."""
    builder = InlineKeyboardBuilder()
    builder.row(
        *(
            _button(marked(texts, translator[code].plain("language-name"), code == locale), user, "lang", code)
            for code in LOCALES
        )
    )
    builder.row(_button(texts.plain("btn-settings-style", style=style_name), user, "styles", "0"))
    builder.row(
        *(
            _button(marked(texts, choice, choice == aspect), user, "aspect", pack_value(choice))
            for choice in ASPECT_CHOICES
        )
    )
    builder.row(
        *(_button(marked(texts, texts.plain("btn-count", n=n), n == count), user, "count", str(n)) for n in COUNTS)
    )
    if offer_beautify:
        state = texts.plain("word-on" if beautify else "word-off")
        builder.row(_button(texts.plain("btn-settings-beautify", state=state), user, "beautify"))
    return builder.as_markup()


def default_style_keyboard(
    texts: Texts, user: int, styles: Mapping, page: int, current: str | None
) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    ids, page = page_of(list(styles), page)
    for style_id in ids:
        label = marked(texts, styles[style_id].name(texts.locale), style_id == current)
        builder.button(text=label, callback_data=SettingsCb(user=user, act="style", val=pack_value(style_id)))
    builder.adjust(STYLES_PER_ROW)
    total = pages(len(styles))
    if total > 1:
        builder.row(
            _button(texts.plain("btn-prev"), user, "styles", str(page - 1)),
            _button(texts.plain("btn-page", page=page + 1, pages=total), user, "styles", str(page)),
            _button(texts.plain("btn-next"), user, "styles", str(page + 1)),
        )
    builder.row(_button(texts.plain("btn-back"), user, "back"))
    return builder.as_markup()
