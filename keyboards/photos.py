"""Under a user's photo: what to do with it; under two photos: the mix balance."""

from __future__ import annotations

from collections.abc import Collection

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from locales import Texts

from .callbacks import PhotoCb
from .results import BALANCES, balance_label

# (action, label key, the engine modes any of which makes it available)
PHOTO_ACTIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("vary", "btn-photo-vary", ("reimagine", "vary")),
    ("remix", "btn-photo-restyle", ("remix",)),
    ("prompt", "btn-photo-prompt", ("photo_prompt",)),
    ("upscale", "btn-photo-upscale", ("upscale",)),
    ("mix", "btn-photo-mix", ("mix",)),
)


def photo_keyboard(texts: Texts, job: str, modes: Collection[str]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for act, key, needs in PHOTO_ACTIONS:
        if any(mode in modes for mode in needs):
            builder.button(text=texts.plain(key), callback_data=PhotoCb(job=job, act=act))
    builder.adjust(1)  # the labels are long: one a row reads best on a phone
    return builder.as_markup()


def mix_keyboard(texts: Texts, job: str, modes: Collection[str]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    if "mix" in modes:
        for first in BALANCES:
            builder.button(text=balance_label(texts, first), callback_data=PhotoCb(job=job, act="mix", val=str(first)))
    builder.button(text=texts.plain("btn-mix-only-last"), callback_data=PhotoCb(job=job, act="only"))
    builder.adjust(len(BALANCES) if "mix" in modes else 1, 1)
    return builder.as_markup()
