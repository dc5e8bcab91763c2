"""Callback data of every button: a short prefix, an action, ids (Telegram allows 64 bytes).

Prompts and parameters live in storage under a short job id; a button names the job, what to do (an action
of its screen's enum) and, where the action needs one, its argument in a field of its own. Handlers filter on
one action each: `ResultCb.filter(F.act == ResultAct.UPSCALE)` is where the 4K button is handled.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from aiogram.filters.callback_data import CallbackData


class DraftAct(StrEnum):
    """The style screen of a request not yet started."""

    STYLE = "style"  # start it in this style
    PAGE = "page"  # show another page of styles
    BEAUTIFY = "beautify"  # toggle ✨ improve prompt
    ASPECT = "aspect"
    CLOSE = "close"
    TAG = "tag"  # toggle prompt tag `tag`


class Grown(CallbackData, prefix="_"):
    """Callback data that gained trailing fields (`tag`): buttons sent by an older version carry fewer and are read
    with those fields empty, so the buttons already in users' chats keep working after an upgrade."""

    @classmethod
    def unpack(cls, value: str) -> Self:
        missing = len(cls.model_fields) - value.count(cls.__separator__)
        return super().unpack(value + cls.__separator__ * max(missing, 0))


class DraftCb(Grown, prefix="d"):
    job: str
    act: DraftAct
    style: str = ""  # STYLE
    page: int = 0  # PAGE
    aspect: str = ""  # ASPECT, packed
    tag: str = ""  # TAG, packed


class JobAct(StrEnum):
    CANCEL = "cancel"
    RETRY = "retry"  # a request a restart could not redo: submit it again


class JobCb(CallbackData, prefix="j"):
    """A request in progress."""

    job: str
    act: JobAct = JobAct.CANCEL


class ResultAct(StrEnum):
    """The buttons under results. The first group makes a new request; the menus swap the keyboard."""

    VARY = "vary"  # subtle variations of picture `pic`
    STRONG = "strong"  # strong variations of picture `pic`
    UPSCALE = "upscale"  # 4K of picture `pic`
    REROLL = "reroll"  # the same request again, new seeds
    RESTYLE = "restyle"  # the same prompt and seed in a style picked next
    ZOOM_OUT = "zoom"  # zoom picture `pic` out by `factor`, keeping its aspect
    EXTEND = "extend"  # extend picture `pic` to `aspect`
    REMIX = "remix"  # a new prompt over the outlines of picture `pic` (asked next)
    MIX = "mix"  # the same photos mixed at another `balance`
    STRONG_MENU = "strongs"  # which picture to vary strongly
    ZOOM_MENU = "zooms"  # which picture to zoom (several) or how (one)
    ZOOM_PICK = "zoompick"  # how to zoom picture `pic`
    REMIX_MENU = "remixes"  # which picture to remix
    EDIT = "edit"  # change picture `pic` as the user writes next (bot/rules.py, handlers/edit.py)
    EDIT_MENU = "edits"  # which picture to edit
    REGION_MENU = "regions"  # which picture to open in the Mini App
    BACK = "back"  # the main keyboard again
    # Daily use (issue 15): the original file, how a picture was made, its seed again, ⭐.
    PNG = "png"  # picture `pic`'s stored PNG as a document
    PNG_MENU = "pngs"  # which picture's PNG
    INFO = "info"  # picture `pic`'s prompt, negative prompt, seed and style
    INFO_MENU = "infos"  # which picture to tell about
    SEED = "seed"  # a new prompt drawn with picture `pic`'s seed (asked next)
    STAR = "star"  # mark or unmark the result as a favourite
    TAG = "tag"  # the same prompt and seed again with prompt tag `tag` toggled


class ResultCb(Grown, prefix="r"):
    job: str
    act: ResultAct
    pic: int = 0  # which picture, 1-based; 0 = none
    factor: str = ""  # ZOOM_OUT: "1.5" or "2"
    aspect: str = ""  # EXTEND, packed
    balance: int = 0  # MIX: percent of the first photo
    tag: str = ""  # TAG, packed


class PhotoAct(StrEnum):
    """The choices under one or two photos of the user's."""

    VARY = "vary"
    RESTYLE = "remix"  # keep its outlines, new prompt/style
    PROMPT = "prompt"  # the photo guides, a prompt says what to draw
    UPSCALE = "upscale"
    MIX = "mix"  # the two photos mixed at `balance`
    PAIR = "pair"  # wait for a second photo to mix with this one
    ONLY_LAST = "only"  # of two photos, just the last one: its own choices
    EDIT = "edit"  # change the photo as the user writes next
    DESCRIBE = "describe"  # prompts that describe the photo (handlers/describe.py)


class PhotoCb(CallbackData, prefix="p"):
    job: str
    act: PhotoAct
    balance: int = 0  # MIX: percent of the first photo


class SettingsAct(StrEnum):
    LANG = "lang"
    STYLE = "style"  # the default style
    ASPECT = "aspect"
    COUNT = "count"
    BEAUTIFY = "beautify"
    ASK_STYLE = "askstyle"  # toggle: the style screen for every prompt, or draw at once in the default style
    PREVIEW = "preview"  # toggle: the status message shows the picture forming
    STYLES = "styles"  # the style list, at `page`
    BACK = "back"


class SettingsCb(CallbackData, prefix="s"):
    """The settings screen of `user` (a button of someone else's settings is refused)."""

    user: int
    act: SettingsAct
    locale: str = ""  # LANG
    style: str = ""  # STYLE
    aspect: str = ""  # ASPECT, packed
    count: int = 0  # COUNT
    page: int = 0  # STYLES


class ShelfAct(StrEnum):
    """/history and /favorites: pages of a user's results as collages."""

    PAGE = "page"  # show page `page`
    OPEN = "open"  # bring back result `job` with its buttons


class ShelfCb(CallbackData, prefix="h"):
    """A page of `user`'s history (or, with `starred`, favourites); a press by anyone else is refused."""

    user: int
    act: ShelfAct
    starred: bool = False
    page: int = 0
    job: str = ""  # OPEN


class OfferedCb(CallbackData, prefix="o"):
    """A prompt the bot offered (/describe): draw it. `job` is its record (bot.records.Kind.PROMPT)."""

    job: str


class ExampleCb(CallbackData, prefix="e"):
    """One of the example prompts under the greeting."""

    n: int


# ":" separates callback data fields; values that may hold one (aspects "16:9", style ids) travel with "|".
def pack_value(value: str) -> str:
    return value.replace(":", "|")


def unpack_value(value: str) -> str:
    return value.replace("|", ":")


class TrainAct(StrEnum):
    """/train_style (administrators): the message counting the pictures, then the training's status."""

    START = "start"  # train on the pictures sent so far
    DROP = "drop"  # stop collecting: nothing is trained
    CANCEL = "cancel"  # stop the training `job`
    RESUME = "resume"  # train `job`, interrupted by a restart, again from its kept pictures (and last checkpoint)
    FORGET = "forget"  # delete the kept pictures of `job`, interrupted by a restart


class TrainCb(CallbackData, prefix="tr"):
    act: TrainAct
    job: str = ""  # CANCEL, RESUME, FORGET: the engine's id of the training
