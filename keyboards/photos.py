"""Under a user's photo: what to do with it; under two photos: the mix balance.

A choice shows only where the engine here serves the mode its rule (bot/rules.py) would make.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, WebAppInfo
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.rules import PHOTO_REGION_RULE, PHOTO_RULES
from engine.api import Mode
from locales import Texts

from .callbacks import PhotoAct, PhotoCb
from .results import BALANCES, balance_label

# The choices under one photo, in order, with their labels.
PHOTO_CHOICES: tuple[tuple[PhotoAct, str], ...] = (
    (PhotoAct.VARY, "btn-photo-vary"),
    (PhotoAct.EDIT, "btn-photo-edit"),
    (PhotoAct.RESTYLE, "btn-photo-restyle"),
    (PhotoAct.PROMPT, "btn-photo-prompt"),
    (PhotoAct.UPSCALE, "btn-photo-upscale"),
    (PhotoAct.PAIR, "btn-photo-mix"),
)


def _offered(act: PhotoAct, modes: Collection[Mode]) -> bool:
    rule = PHOTO_RULES[PhotoAct.MIX if act == PhotoAct.PAIR else act]
    return rule.offered(Mode.GENERATE, modes)


def photo_keyboard(
    texts: Texts,
    job: str,
    modes: Collection[Mode],
    region_url: Callable[[int], str] | None = None,
    describes: bool = False,
) -> InlineKeyboardMarkup:
    """region_url: picture -> the Mini App's address (bot/links.py; the photo is picture 0); None: no 🖌 Region.
    describes: a captioning model is configured (💬 Describe, handlers/describe.py)."""
    builder = InlineKeyboardBuilder()
    for act, key in PHOTO_CHOICES:
        if _offered(act, modes):
            builder.button(text=texts.plain(key), callback_data=PhotoCb(job=job, act=act))
        if act == PhotoAct.EDIT and region_url is not None and PHOTO_REGION_RULE.offered(Mode.GENERATE, modes):
            builder.add(
                InlineKeyboardButton(text=texts.plain("btn-photo-region"), web_app=WebAppInfo(url=region_url(0)))
            )
    if describes:
        builder.button(text=texts.plain("btn-photo-describe"), callback_data=PhotoCb(job=job, act=PhotoAct.DESCRIBE))
    builder.adjust(1)  # the labels are long: one a row reads best on a phone
    return builder.as_markup()


def mix_keyboard(texts: Texts, job: str, modes: Collection[Mode]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    mixes = _offered(PhotoAct.MIX, modes)
    if mixes:
        for first in BALANCES:
            builder.button(
                text=balance_label(texts, first), callback_data=PhotoCb(job=job, act=PhotoAct.MIX, balance=first)
            )
    builder.button(text=texts.plain("btn-mix-only-last"), callback_data=PhotoCb(job=job, act=PhotoAct.ONLY_LAST))
    builder.adjust(len(BALANCES) if mixes else 1, 1)
    return builder.as_markup()
