"""Callback data of every button: short prefixes, ids only (Telegram allows 64 bytes).

Prompts and parameters live in storage under a short job id; a button names the job and what to do.
"""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class DraftCb(CallbackData, prefix="d"):
    """The style screen of a request not yet started. act: style | page | beautify | aspect | close."""

    job: str
    act: str
    val: str = ""


class JobCb(CallbackData, prefix="j"):
    """A request in progress. act: cancel."""

    job: str
    act: str = "cancel"


class ResultCb(CallbackData, prefix="r"):
    """Buttons under results. act: vary | strong | upscale | reroll | restyle | zoom | remix | mix | menu;
    pic: which picture (1-based, 0 = none); val: a sub-choice (zoom aspect, mix balance, menu name)."""

    job: str
    act: str
    pic: int = 0
    val: str = ""


class PhotoCb(CallbackData, prefix="p"):
    """The choices for one or two photos. act: vary | remix | prompt | upscale | mix | only."""

    job: str
    act: str
    val: str = ""


class SettingsCb(CallbackData, prefix="s"):
    """The settings screen of `user`. act: lang | style | aspect | count | beautify | styles | page | back."""

    user: int
    act: str
    val: str = ""


class ExampleCb(CallbackData, prefix="e"):
    """One of the example prompts under the greeting."""

    n: int


# ":" separates callback data fields; values that may hold one (aspects "16:9", style ids) travel with "|".
def pack_value(value: str) -> str:
    return value.replace(":", "|")


def unpack_value(value: str) -> str:
    return value.replace("|", ":")
