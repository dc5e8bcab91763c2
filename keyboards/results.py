"""Under an album: V (variation) and 4K per picture, then 🔄 reroll · 🎨 style · 🔭 zoom · 🖌 remix.

Four buttons a row at most, so it fits a phone. Strong variations, and the picture choice for zoom and
remix, are sub-menus of the same message (its keyboard is swapped; « Back returns).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from locales import Texts

from .callbacks import ResultCb, pack_value
from .common import marked

BALANCES: tuple[int, ...] = (30, 50, 70)  # percent of the first photo in a mix
# Zoom out by a factor keeping the aspect (Midjourney's 1.5x / 2x), or extend to another aspect.
ZOOM_FACTORS: tuple[str, ...] = ("1.5", "2")
ZOOM_ASPECTS: tuple[tuple[str, str], ...] = (
    ("1:1", "btn-zoom-square"),
    ("16:9", "btn-zoom-wide"),
    ("9:16", "btn-zoom-tall"),
)


def _button(text: str, job: str, act: str, pic: int = 0, val: str = "") -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=ResultCb(job=job, act=act, pic=pic, val=val).pack())


def balance_label(texts: Texts, first: int) -> str:
    return texts.plain("btn-balance", first=first, second=100 - first)


def results_keyboard(
    texts: Texts, job: str, mode: str, count: int, modes: Collection[str], weights: Sequence[float] = ()
) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    pics = range(1, count + 1)
    if "vary" in modes:
        builder.row(*(_button(texts.plain("btn-vary", n=n), job, "vary", n) for n in pics))
    if "upscale" in modes:
        builder.row(*(_button(texts.plain("btn-upscale", n=n), job, "upscale", n) for n in pics))
    tools = []
    if mode in modes:
        tools.append(_button(texts.plain("btn-reroll"), job, "reroll"))
    if ("restyle" if mode == "generate" else mode) in modes:
        tools.append(_button(texts.plain("btn-restyle"), job, "restyle"))
    if "zoom" in modes:
        tools.append(_button(texts.plain("btn-zoom"), job, "menu", val="zoom"))
    if "remix" in modes:
        tools.append(_button(texts.plain("btn-remix"), job, "menu", val="remix"))
    if tools:
        builder.row(*tools)
    if mode == "mix" and "mix" in modes:
        current = round(weights[0] * 100) if weights else 50
        builder.row(
            *(
                _button(marked(texts, balance_label(texts, first), first == current), job, "mix", val=str(first))
                for first in BALANCES
            )
        )
    if "vary" in modes:
        builder.row(_button(texts.plain("btn-strong"), job, "menu", val="strong"))
    return builder.as_markup()


def strong_keyboard(texts: Texts, job: str, count: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.row(*(_button(texts.plain("btn-vary-strong", n=n), job, "strong", n) for n in range(1, count + 1)))
    builder.row(_button(texts.plain("btn-back"), job, "menu", val="main"))
    return builder.as_markup()


def pick_keyboard(texts: Texts, job: str, count: int, menu: str) -> InlineKeyboardMarkup:
    """Which picture to zoom out / remix (menu: zoom | remix)."""
    builder = InlineKeyboardBuilder()
    act = "zoompick" if menu == "zoom" else "remix"
    builder.row(*(_button(texts.plain("btn-pick", n=n), job, act, n) for n in range(1, count + 1)))
    builder.row(_button(texts.plain("btn-back"), job, "menu", val="main"))
    return builder.as_markup()


def zoom_keyboard(texts: Texts, job: str, pic: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.row(*(_button(texts.plain("btn-zoom-out", factor=f), job, "zoom", pic, f) for f in ZOOM_FACTORS))
    builder.row(*(_button(texts.plain(key), job, "zoom", pic, pack_value(aspect)) for aspect, key in ZOOM_ASPECTS))
    builder.row(_button(texts.plain("btn-back"), job, "menu", val="main"))
    return builder.as_markup()
