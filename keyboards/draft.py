"""The style screen of a request not yet started: styles in pages, "✨ improve prompt", aspect."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from engine.api import MODES, Mode
from engine.styles import Tag
from locales import Texts

from .callbacks import DraftAct, DraftCb, pack_value
from .common import ASPECT_CHOICES, add_style_pages, marked
from .tags import add_tag_rows


def draft_keyboard(
    texts: Texts,
    job: str,
    mode: Mode,
    styles: Mapping,
    page: int,
    beautify: bool,
    aspect: str,
    default_style: str | None = None,
    *,
    offer_beautify: bool,
    tags: Sequence[Tag] = (),
    chosen_tags: Collection[str] = (),
) -> InlineKeyboardMarkup:
    """offer_beautify: whether the "✨ improve prompt" toggle is shown (the server has a prompt LLM); `tags`: the
    prompt tags offered, `chosen_tags` those toggled on."""
    builder = InlineKeyboardBuilder()
    add_style_pages(builder, texts, styles, page, default_style, DraftCb, DraftAct.STYLE, DraftAct.PAGE, job=job)
    add_tag_rows(
        builder, texts, tags, chosen_tags, lambda tag: DraftCb(job=job, act=DraftAct.TAG, tag=pack_value(tag)).pack()
    )
    if MODES[mode].aspect_from_user:
        builder.row(
            *(
                InlineKeyboardButton(
                    text=marked(texts, choice, choice == aspect),
                    callback_data=DraftCb(job=job, act=DraftAct.ASPECT, aspect=pack_value(choice)).pack(),
                )
                for choice in ASPECT_CHOICES
            )
        )
    close = InlineKeyboardButton(
        text=texts.plain("btn-close"), callback_data=DraftCb(job=job, act=DraftAct.CLOSE).pack()
    )
    if offer_beautify:
        toggle = InlineKeyboardButton(
            text=texts.plain("btn-beautify-on" if beautify else "btn-beautify-off"),
            callback_data=DraftCb(job=job, act=DraftAct.BEAUTIFY).pack(),
        )
        builder.row(toggle, close)
    else:
        builder.row(close)
    return builder.as_markup()
