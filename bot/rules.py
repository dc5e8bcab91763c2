"""The rules that turn a button press into a new request: one table for the buttons under results, one for
the choices under a user's photos. The only home of what "4K", "zoom", "another style" or "remix" means:
which pictures the new request starts from, its mode, which fields change, and what the bot does next.

How many pictures a mode makes, and whether it takes an aspect, are engine facts (engine.api.MODES).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

from engine.api import Mode
from keyboards.callbacks import PhotoAct, ResultAct

from .records import Prefs


class From(StrEnum):
    """Which pictures the new request starts from."""

    PICTURE = "picture"  # the pressed picture of the results
    SOURCES = "sources"  # the pictures the earlier request started from (none for a text prompt)
    NOTHING = "nothing"  # none: a new prompt drawn from text


class ModeOf(StrEnum):
    """A mode that depends on the earlier request's."""

    PARENT = "parent"  # the same mode again
    RESTYLED = "restyled"  # a picture drawn from text is drawn again (RESTYLE); others keep their mode


class Seed(StrEnum):
    NEW = "new"  # random: new pictures
    FIRST = "first"  # the first picture's: the same pictures in another style or balance
    PICTURE = "picture"  # the pressed picture's: the file names the picture it came from


class StyleOf(StrEnum):
    KEEP = "keep"  # the earlier request's
    RESULT = "result"  # the style the pictures came out in
    PREFS = "prefs"  # the user's default style
    PREFS_IF_CAPTION = "prefs-if-caption"  # the user's default with a caption; none for a bare photo


class Then(StrEnum):
    """What the bot does with the new request."""

    START = "start"  # submit it
    ASK_PROMPT = "ask"  # ask for a prompt (unless it has one: then its style screen)
    PICK_STYLE = "pick-style"  # show its style screen
    ASK_INSTRUCTION = "ask-instruction"  # ask what should change, then start it (handlers/edit.py)


@dataclass(frozen=True)
class Rule:
    mode: Mode | ModeOf
    source: From
    seed: Seed = Seed.NEW
    style: StyleOf = StyleOf.KEEP
    then: Then = Then.START
    variation: str | None = None  # VARY: "subtle" or "strong"; None keeps the earlier one
    new_prompt: bool = False  # the prompt is asked for anew
    count_from_prefs: bool = False  # a photo's request makes as many pictures as the user's settings say
    count: int | None = None  # how many pictures, where the rule decides (else the earlier request's)
    fallback: Mode | None = None  # the mode to use when `mode` is not served here
    question: str = ""  # the locale key of the question, for Then.ASK_PROMPT

    def mode_for(self, parent: Mode, served: Collection[Mode]) -> Mode:
        if self.mode == ModeOf.PARENT:
            return parent
        if self.mode == ModeOf.RESTYLED:
            return Mode.RESTYLE if parent == Mode.GENERATE else parent
        if self.mode not in served and self.fallback is not None:
            return self.fallback
        return Mode(self.mode)

    def offered(self, parent: Mode, served: Collection[Mode]) -> bool:
        """Whether the engine here serves the mode this rule makes (else its button is hidden)."""
        return self.mode_for(parent, served) in served


RESULT_RULES: dict[ResultAct, Rule] = {
    ResultAct.VARY: Rule(Mode.VARY, From.PICTURE, style=StyleOf.RESULT, variation="subtle"),
    ResultAct.STRONG: Rule(Mode.VARY, From.PICTURE, style=StyleOf.RESULT, variation="strong"),
    ResultAct.UPSCALE: Rule(Mode.UPSCALE, From.PICTURE, seed=Seed.PICTURE),
    # One zoomed picture: the user zooms the one they liked, and gets it back at once.
    ResultAct.ZOOM_OUT: Rule(Mode.ZOOM, From.PICTURE, style=StyleOf.RESULT, count=1),
    ResultAct.EXTEND: Rule(Mode.ZOOM, From.PICTURE, style=StyleOf.RESULT, count=1),
    ResultAct.REMIX: Rule(Mode.REMIX, From.PICTURE, then=Then.ASK_PROMPT, new_prompt=True, question="ask-remix-prompt"),
    ResultAct.REROLL: Rule(ModeOf.PARENT, From.SOURCES),
    ResultAct.MIX: Rule(ModeOf.PARENT, From.SOURCES, seed=Seed.FIRST),
    ResultAct.RESTYLE: Rule(ModeOf.RESTYLED, From.SOURCES, seed=Seed.FIRST, then=Then.PICK_STYLE),
    # ℹ → "reuse seed": a new prompt, drawn from text with the pressed picture's seed, in its style.
    ResultAct.SEED: Rule(
        Mode.GENERATE,
        From.NOTHING,
        seed=Seed.PICTURE,
        style=StyleOf.RESULT,
        then=Then.ASK_PROMPT,
        new_prompt=True,
        question="ask-seed-prompt",
    ),
    # Edits of the pressed picture, as many as the user's settings say, in the style it came out in.
    ResultAct.EDIT: Rule(
        Mode.EDIT,
        From.PICTURE,
        style=StyleOf.RESULT,
        then=Then.ASK_INSTRUCTION,
        count_from_prefs=True,
        question="ask-edit",
    ),
}


# 🖌 Region: the Mini App (bot/webapp.py) sends the mask and the text; the picture's region is repainted.
REGION_RULE = Rule(Mode.INPAINT, From.PICTURE, style=StyleOf.RESULT, count_from_prefs=True)
PHOTO_REGION_RULE = Rule(Mode.INPAINT, From.SOURCES, style=StyleOf.PREFS_IF_CAPTION, count_from_prefs=True)


def _photo_and_prompt(mode: Mode, question: str) -> Rule:
    """A photo and a prompt: the photo's caption, else one asked for; in the user's default style."""
    return Rule(mode, From.SOURCES, style=StyleOf.PREFS, then=Then.ASK_PROMPT, count_from_prefs=True, question=question)


PHOTO_RULES: dict[PhotoAct, Rule] = {
    PhotoAct.VARY: Rule(
        Mode.REIMAGINE, From.SOURCES, style=StyleOf.PREFS_IF_CAPTION, count_from_prefs=True, fallback=Mode.VARY
    ),
    PhotoAct.RESTYLE: _photo_and_prompt(Mode.REMIX, "ask-restyle-prompt"),
    PhotoAct.PROMPT: _photo_and_prompt(Mode.PHOTO_PROMPT, "ask-photo-prompt"),
    PhotoAct.UPSCALE: Rule(Mode.UPSCALE, From.SOURCES),
    PhotoAct.MIX: Rule(Mode.MIX, From.SOURCES, style=StyleOf.PREFS_IF_CAPTION, count_from_prefs=True),
    PhotoAct.EDIT: Rule(
        Mode.EDIT,
        From.SOURCES,
        style=StyleOf.PREFS_IF_CAPTION,
        then=Then.ASK_INSTRUCTION,
        count_from_prefs=True,
        question="ask-edit-photo",
    ),
}


# The arguments a press carries, as the fields they change.
def zoom_out(factor: str) -> dict:
    """Zoom out by a factor ("1.5", "2"), keeping the aspect; a forged factor reads as 1.5."""
    try:
        zoom = float(factor)
    except ValueError:
        zoom = 1.5
    return {"aspect": "", "zoom": zoom}


def extend(aspect: str) -> dict:
    """Extend to another aspect, zooming out no further."""
    return {"aspect": aspect, "zoom": 1.0}


def balance(first_percent: int) -> dict:
    """Mix weights from the first photo's share in percent (30 -> [0.3, 0.7])."""
    first = min(max(first_percent, 0), 100) / 100
    return {"weights": [first, round(1 - first, 2)]}


def draws_at_once(prefs: Prefs, style_typed: bool) -> bool:
    """Whether a prompt is drawn without its style screen: its style was typed (--style), or the user chose a
    default style and did not ask to pick one each time. New users have no default yet: they see the styles once,
    and choosing one in /settings is what switches drawing at once on."""
    return style_typed or (prefs.style is not None and not prefs.ask_style)
