"""Pieces several screens share: the aspect row, a marked label, style pages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton
from aiogram.utils.keyboard import InlineKeyboardBuilder

from locales import Texts

from .callbacks import pack_value

# The aspect buttons users see (phones: 9:16 matters); the engine knows a few more.
ASPECT_CHOICES: tuple[str, ...] = ("1:1", "3:4", "4:3", "9:16", "16:9")
STYLES_PER_PAGE = 8
STYLES_PER_ROW = 2


def marked(texts: Texts, label: str, chosen: bool) -> str:
    return texts.plain("btn-mark", label=label) if chosen else label


def pages(count: int) -> int:
    return max(1, -(-count // STYLES_PER_PAGE))


def page_of(items: Sequence[str], page: int) -> tuple[list[str], int]:
    """The items on a page (the page wraps around), and that page's number."""
    page %= pages(len(items))
    return list(items[page * STYLES_PER_PAGE : (page + 1) * STYLES_PER_PAGE]), page


def add_style_pages(
    builder: InlineKeyboardBuilder,
    texts: Texts,
    styles: Mapping,
    page: int,
    current: str | None,
    factory: type[CallbackData],
    pick: StrEnum,
    turn: StrEnum,
    **ids: str | int,
) -> None:
    """One page of style buttons (`current` marked), two a row, then ◀ page ▶ when there is more than one page.

    A style button is `factory(act=pick, style=..., **ids)`, a page button `factory(act=turn, page=..., **ids)`.
    """
    ids_on_page, page = page_of(list(styles), page)
    for style_id in ids_on_page:
        label = marked(texts, styles[style_id].name(texts.locale), style_id == current)
        builder.button(text=label, callback_data=factory(act=pick, style=pack_value(style_id), **ids))
    builder.adjust(STYLES_PER_ROW)
    total = pages(len(styles))
    if total > 1:

        def to(number: int) -> str:
            return factory(act=turn, page=number, **ids).pack()

        builder.row(
            InlineKeyboardButton(text=texts.plain("btn-prev"), callback_data=to(page - 1)),
            InlineKeyboardButton(text=texts.plain("btn-page", page=page + 1, pages=total), callback_data=to(page)),
            InlineKeyboardButton(text=texts.plain("btn-next"), callback_data=to(page + 1)),
        )
