"""/settings: language, default style, aspect, pictures per request, prompt improvement; /styles."""

from __future__ import annotations

from collections.abc import Mapping

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from locales import LOCALES, Texts, Translator

from .callbacks import SettingsAct, SettingsCb, pack_value
from .common import ASPECT_CHOICES, add_style_pages, marked

COUNTS: tuple[int, ...] = (1, 2, 3, 4)


def _button(text: str, user: int, act: SettingsAct, **argument: str | int) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=SettingsCb(user=user, act=act, **argument).pack())


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
    ask_style: bool = False,
    preview: bool = True,
) -> InlineKeyboardMarkup:
    """offer_beautify: whether the "✨ improve prompts" toggle is shown (the server has a prompt LLM); ask_style:
    whether a style is asked for every prompt (else a prompt is drawn at once in the default style)."""
    builder = InlineKeyboardBuilder()
    builder.row(
        *(
            _button(
                marked(texts, translator[code].plain("language-name"), code == locale),
                user,
                SettingsAct.LANG,
                locale=code,
            )
            for code in LOCALES
        )
    )
    builder.row(_button(texts.plain("btn-settings-style", style=style_name), user, SettingsAct.STYLES))
    ask = texts.plain("word-on" if ask_style else "word-off")
    builder.row(_button(texts.plain("btn-settings-ask-style", state=ask), user, SettingsAct.ASK_STYLE))
    shown = texts.plain("word-on" if preview else "word-off")
    builder.row(_button(texts.plain("btn-settings-preview", state=shown), user, SettingsAct.PREVIEW))
    builder.row(
        *(
            _button(marked(texts, choice, choice == aspect), user, SettingsAct.ASPECT, aspect=pack_value(choice))
            for choice in ASPECT_CHOICES
        )
    )
    builder.row(
        *(
            _button(marked(texts, texts.plain("btn-count", n=n), n == count), user, SettingsAct.COUNT, count=n)
            for n in COUNTS
        )
    )
    if offer_beautify:
        state = texts.plain("word-on" if beautify else "word-off")
        builder.row(_button(texts.plain("btn-settings-beautify", state=state), user, SettingsAct.BEAUTIFY))
    return builder.as_markup()


def default_style_keyboard(
    texts: Texts, user: int, styles: Mapping, page: int, current: str | None
) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    add_style_pages(builder, texts, styles, page, current, SettingsCb, SettingsAct.STYLE, SettingsAct.STYLES, user=user)
    builder.row(_button(texts.plain("btn-back"), user, SettingsAct.BACK))
    return builder.as_markup()
