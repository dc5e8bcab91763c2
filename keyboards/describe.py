"""Under /describe's answer: the prompts that describe the photo, one button each."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.text import short

from .callbacks import OfferedCb

LABEL_CHARS = 56  # with "1. ", about what a phone shows of a lone button; the message lists each prompt in full


def described_keyboard(offered: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    """offered: (record id, prompt) of each prompt, best first."""
    builder = InlineKeyboardBuilder()
    for n, (job, prompt) in enumerate(offered, start=1):
        builder.button(text=f"{n}. {short(prompt, LABEL_CHARS)}", callback_data=OfferedCb(job=job))
    builder.adjust(1)
    return builder.as_markup()
