"""The style screen of a request not yet started: styles in pages, "✨ improve prompt", aspect."""

from __future__ import annotations

from collections.abc import Mapping

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from locales import Texts

from .callbacks import DraftCb, pack_value
from .common import ASPECT_CHOICES, STYLES_PER_ROW, marked, page_of, pages

# Modes whose size the user picks (image modes follow their source picture).
ASPECT_MODES = ("generate",)


def draft_keyboard(
    texts: Texts,
    job: str,
    mode: str,
    styles: Mapping,
    page: int,
    beautify: bool,
    aspect: str,
    default_style: str | None = None,
    *,
    offer_beautify: bool,
) -> InlineKeyboardMarkup:
    """offer_beautify: whether the "✨ improve prompt" toggle is shown (the server has a prompt LLM)."""
    builder = InlineKeyboardBuilder()
    ids, page = page_of(list(styles), page)
    for style_id in ids:
        label = marked(texts, styles[style_id].name(texts.locale), style_id == default_style)
        builder.button(text=label, callback_data=DraftCb(job=job, act="style", val=pack_value(style_id)))
    builder.adjust(STYLES_PER_ROW)
    total = pages(len(styles))
    if total > 1:
        builder.row(
            InlineKeyboardButton(
                text=texts.plain("btn-prev"), callback_data=DraftCb(job=job, act="page", val=str(page - 1)).pack()
            ),
            InlineKeyboardButton(
                text=texts.plain("btn-page", page=page + 1, pages=total),
                callback_data=DraftCb(job=job, act="page", val=str(page)).pack(),
            ),
            InlineKeyboardButton(
                text=texts.plain("btn-next"), callback_data=DraftCb(job=job, act="page", val=str(page + 1)).pack()
            ),
        )
    if mode in ASPECT_MODES:
        builder.row(
            *(
                InlineKeyboardButton(
                    text=marked(texts, choice, choice == aspect),
                    callback_data=DraftCb(job=job, act="aspect", val=pack_value(choice)).pack(),
                )
                for choice in ASPECT_CHOICES
            )
        )
    close = InlineKeyboardButton(text=texts.plain("btn-close"), callback_data=DraftCb(job=job, act="close").pack())
    if offer_beautify:
        toggle = InlineKeyboardButton(
            text=texts.plain("btn-beautify-on" if beautify else "btn-beautify-off"),
            callback_data=DraftCb(job=job, act="beautify").pack(),
        )
        builder.row(toggle, close)
    else:
        builder.row(close)
    return builder.as_markup()
