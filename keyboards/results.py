"""Under an album: V (variation) and 4K per picture, then 🔄 reroll · 🎨 style · 🔭 zoom · 🖌 remix.

Four buttons a row at most, so it fits a phone. Strong variations, and the picture choice for zoom and
remix, are sub-menus of the same message (its keyboard is swapped; « Back returns). A button shows only
where the engine here serves the mode its rule (bot/rules.py) would make.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, WebAppInfo
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.rules import REGION_RULE, RESULT_RULES
from engine.api import Mode
from locales import Texts

from .callbacks import ResultAct, ResultCb, pack_value
from .common import marked

BALANCES: tuple[int, ...] = (30, 50, 70)  # percent of the first photo in a mix
# Zoom out by a factor keeping the aspect (Midjourney's 1.5x / 2x), or extend to another aspect.
ZOOM_FACTORS: tuple[str, ...] = ("1.5", "2")
ZOOM_ASPECTS: tuple[tuple[str, str], ...] = (
    ("1:1", "btn-zoom-square"),
    ("16:9", "btn-zoom-wide"),
    ("9:16", "btn-zoom-tall"),
)


def _button(text: str, job: str, act: ResultAct, pic: int = 0, **argument: str | int) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=ResultCb(job=job, act=act, pic=pic, **argument).pack())


def balance_label(texts: Texts, first: int) -> str:
    return texts.plain("btn-balance", first=first, second=100 - first)


def results_keyboard(
    texts: Texts,
    job: str,
    mode: Mode,
    count: int,
    modes: Collection[Mode],
    weights: Sequence[float] = (),
    starred: bool = False,
    region_url: Callable[[int], str] | None = None,
) -> InlineKeyboardMarkup:
    """region_url: picture -> the Mini App's address (bot/links.py); None hides 🖌 Region."""

    def offered(act: ResultAct) -> bool:
        return RESULT_RULES[act].offered(mode, modes)

    builder = InlineKeyboardBuilder()
    pics = range(1, count + 1)
    if offered(ResultAct.VARY):
        builder.row(*(_button(texts.plain("btn-vary", n=n), job, ResultAct.VARY, n) for n in pics))
    if offered(ResultAct.UPSCALE):
        builder.row(*(_button(texts.plain("btn-upscale", n=n), job, ResultAct.UPSCALE, n) for n in pics))
    tools = []
    if offered(ResultAct.REROLL):
        tools.append(_button(texts.plain("btn-reroll"), job, ResultAct.REROLL))
    if offered(ResultAct.RESTYLE):
        tools.append(_button(texts.plain("btn-restyle"), job, ResultAct.RESTYLE))
    if offered(ResultAct.ZOOM_OUT):
        tools.append(_button(texts.plain("btn-zoom"), job, ResultAct.ZOOM_MENU))
    if offered(ResultAct.REMIX):
        tools.append(_button(texts.plain("btn-remix"), job, ResultAct.REMIX_MENU))
    if tools:
        builder.row(*tools)
    edits = _edit_buttons(
        texts, job, count, offered(ResultAct.EDIT), region_url if REGION_RULE.offered(mode, modes) else None
    )
    if edits:
        builder.row(*edits)
    builder.row(*_keeping_buttons(texts, job, count, starred))
    if mode == Mode.MIX and offered(ResultAct.MIX):
        current = round(weights[0] * 100) if weights else 50
        builder.row(
            *(
                _button(marked(texts, balance_label(texts, first), first == current), job, ResultAct.MIX, balance=first)
                for first in BALANCES
            )
        )
    if offered(ResultAct.STRONG):
        builder.row(_button(texts.plain("btn-strong"), job, ResultAct.STRONG_MENU))
    return builder.as_markup()


def strong_keyboard(texts: Texts, job: str, count: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.row(*(_button(texts.plain("btn-vary-strong", n=n), job, ResultAct.STRONG, n) for n in range(1, count + 1)))
    builder.row(_button(texts.plain("btn-back"), job, ResultAct.BACK))
    return builder.as_markup()


def pick_keyboard(texts: Texts, job: str, count: int, act: ResultAct) -> InlineKeyboardMarkup:
    """Which picture to zoom out (act ZOOM_PICK) or remix (act REMIX)."""
    builder = InlineKeyboardBuilder()
    builder.row(*(_button(texts.plain("btn-pick", n=n), job, act, n) for n in range(1, count + 1)))
    builder.row(_button(texts.plain("btn-back"), job, ResultAct.BACK))
    return builder.as_markup()


def zoom_keyboard(texts: Texts, job: str, pic: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.row(
        *(_button(texts.plain("btn-zoom-out", factor=f), job, ResultAct.ZOOM_OUT, pic, factor=f) for f in ZOOM_FACTORS)
    )
    builder.row(
        *(
            _button(texts.plain(key), job, ResultAct.EXTEND, pic, aspect=pack_value(aspect))
            for aspect, key in ZOOM_ASPECTS
        )
    )
    builder.row(_button(texts.plain("btn-back"), job, ResultAct.BACK))
    return builder.as_markup()


def _keeping_buttons(texts: Texts, job: str, count: int, starred: bool) -> list[InlineKeyboardButton]:
    """⬇ PNG (the original file), ℹ (how it was made), ⭐ (a favourite): with several pictures the first two ask
    which one; with one they act on it at once."""
    one = count == 1
    return [
        _button(texts.plain("btn-png"), job, ResultAct.PNG if one else ResultAct.PNG_MENU, 1 if one else 0),
        _button(texts.plain("btn-info"), job, ResultAct.INFO if one else ResultAct.INFO_MENU, 1 if one else 0),
        _button(texts.plain("btn-starred" if starred else "btn-star"), job, ResultAct.STAR),
    ]


def info_keyboard(texts: Texts, job: str, pic: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.row(_button(texts.plain("btn-reuse-seed"), job, ResultAct.SEED, pic))
    builder.row(_button(texts.plain("btn-back"), job, ResultAct.BACK))
    return builder.as_markup()


def _edit_buttons(
    texts: Texts, job: str, count: int, edit: bool, region_url: Callable[[int], str] | None
) -> list[InlineKeyboardButton]:
    """✏️ Edit (which picture is asked next, unless there is one) and 🖌 Region (the Mini App, straight away for one
    picture, else after picking one)."""
    buttons = [_button(texts.plain("btn-edit"), job, ResultAct.EDIT_MENU)] if edit else []
    if region_url is not None:
        if count == 1:
            buttons.append(InlineKeyboardButton(text=texts.plain("btn-region"), web_app=WebAppInfo(url=region_url(1))))
        else:
            buttons.append(_button(texts.plain("btn-region"), job, ResultAct.REGION_MENU))
    return buttons


def region_keyboard(texts: Texts, job: str, count: int, region_url: Callable[[int], str]) -> InlineKeyboardMarkup:
    """One Mini App button per picture, then « Back."""
    builder = InlineKeyboardBuilder()
    builder.row(
        *(
            InlineKeyboardButton(text=texts.plain("btn-pick", n=n), web_app=WebAppInfo(url=region_url(n)))
            for n in range(1, count + 1)
        )
    )
    builder.row(_button(texts.plain("btn-back"), job, ResultAct.BACK))
    return builder.as_markup()
