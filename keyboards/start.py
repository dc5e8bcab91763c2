"""Under the greeting: three example prompts to tap."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from locales import Texts

from .callbacks import ExampleCb

EXAMPLES = (1, 2, 3)


def examples_keyboard(texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for n in EXAMPLES:
        builder.button(text=texts.plain(f"example-{n}"), callback_data=ExampleCb(n=n))
    builder.adjust(1)
    return builder.as_markup()
