"""One module per thing a user can ask for; each exposes `run(studio, plans, hooks) -> list[list[Image]]`.

RUNNERS maps a mode to its runner; `available` says whether the loaded models can serve a mode, so the
bot can hide a button instead of failing. `check_sources` and `complete_request` run at submit time.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from PIL import Image

from ..api import MAX_PROMPT_CHARS, MODES, BadRequest, ImageRequest, Mode
from ..masks import read_mask
from . import edit, generate, inpaint, mix, photo_prompt, reimagine, remix, restyle, upscale, vary, zoom
from .ours import complete_request

RUNNERS: dict[Mode, Callable] = {
    Mode.GENERATE: generate.run,
    Mode.VARY: vary.run,
    Mode.RESTYLE: restyle.run,
    Mode.REIMAGINE: reimagine.run,
    Mode.MIX: mix.run,
    Mode.REMIX: remix.run,
    Mode.PHOTO_PROMPT: photo_prompt.run,
    Mode.UPSCALE: upscale.run,
    Mode.ZOOM: zoom.run,
    Mode.EDIT: edit.run,
    Mode.INPAINT: inpaint.run,
}

MAX_ZOOM = 4.0

__all__ = ["RUNNERS", "available", "check_sources", "complete_request"]


def available(mode: Mode, models) -> bool:
    if mode in (Mode.REIMAGINE, Mode.MIX):
        return models.ip_adapter
    if mode == Mode.REMIX:
        return models.structure is not None
    return True


def check_sources(request: ImageRequest, sources: list[Image.Image]) -> None:
    low, high = MODES[request.mode].sources
    if not low <= len(sources) <= high:
        raise BadRequest(f"{request.mode} takes {low}..{high} pictures, got {len(sources)}")
    if request.mode == Mode.MIX and request.weights:
        if len(request.weights) != len(sources):
            raise BadRequest("one weight per picture")
        if any(not math.isfinite(w) or w < 0 for w in request.weights) or sum(request.weights) <= 0:
            raise BadRequest("weights must be non-negative and not all zero")
    if request.mode in (Mode.GENERATE, Mode.PHOTO_PROMPT) and not request.prompt.strip():
        raise BadRequest("this mode needs a prompt")
    if request.mode == Mode.REMIX and not request.prompt.strip() and request.style is None:
        raise BadRequest("a remix needs a new prompt or a new style")
    if request.strength is not None and not 0 < request.strength <= 1:
        raise BadRequest("strength must be in (0, 1]")
    if not 0 <= request.structure <= 2:
        raise BadRequest("structure must be 0..2")
    if not 1 <= request.zoom <= MAX_ZOOM:
        raise BadRequest(f"zoom must be 1..{MAX_ZOOM:g}")
    _check_instruction(request, sources)


def _check_instruction(request: ImageRequest, sources: list[Image.Image]) -> None:
    """EDIT needs an instruction; INPAINT a mask of its picture's size with something painted."""
    if len(request.instruction) > MAX_PROMPT_CHARS:
        raise BadRequest(f"instruction over {MAX_PROMPT_CHARS} characters")
    if request.mode == Mode.EDIT and not request.instruction.strip():
        raise BadRequest("an edit needs an instruction")
    if request.mode == Mode.INPAINT:
        read_mask(request.mask, sources[0].size)
