"""/history and /favorites: a button per result on the page (its number on the collage), then ◀ page ▶."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from locales import Texts

from .callbacks import ShelfAct, ShelfCb

PER_PAGE = 6  # a 3×2 collage
PER_ROW = 6


def shelf_keyboard(
    texts: Texts, user: int, starred: bool, jobs: list[str], page: int, pages: int
) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for n, job in enumerate(jobs, start=1):
        builder.button(
            text=texts.plain("btn-pick", n=n),
            callback_data=ShelfCb(user=user, act=ShelfAct.OPEN, starred=starred, job=job),
        )
    builder.adjust(PER_ROW)
    if pages > 1:

        def to(number: int) -> str:
            return ShelfCb(user=user, act=ShelfAct.PAGE, starred=starred, page=number % pages).pack()

        builder.row(
            InlineKeyboardButton(text=texts.plain("btn-prev"), callback_data=to(page - 1)),
            InlineKeyboardButton(text=texts.plain("btn-page", page=page + 1, pages=pages), callback_data=to(page)),
            InlineKeyboardButton(text=texts.plain("btn-next"), callback_data=to(page + 1)),
        )
    return builder.as_markup()
