"""One module per thing a user can ask for; each exposes `run(studio, plans, hooks) -> list[list[Image]]`.

RUNNERS maps a mode to its runner; `available` says whether the loaded models can serve a mode, so the
bot can hide a button instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable

from PIL import Image

from ..api import BadRequest, ImageRequest, Mode
from . import generate

RUNNERS: dict[Mode, Callable] = {
    Mode.GENERATE: generate.run,
    Mode.RESTYLE: generate.run,
}

# How many source pictures each mode takes (min, max).
SOURCES: dict[Mode, tuple[int, int]] = {
    Mode.GENERATE: (0, 0),
    Mode.RESTYLE: (0, 1),
    Mode.VARY: (1, 1),
    Mode.REIMAGINE: (1, 1),
    Mode.MIX: (2, 4),
    Mode.REMIX: (1, 1),
    Mode.PHOTO_PROMPT: (1, 1),
    Mode.UPSCALE: (1, 1),
    Mode.ZOOM: (1, 1),
}


def available(mode: Mode, models) -> bool:
    if mode in (Mode.REIMAGINE, Mode.MIX):
        return models.ip_adapter
    if mode == Mode.REMIX:
        return models.structure is not None
    return True


def check_sources(request: ImageRequest, sources: list[Image.Image]) -> None:
    low, high = SOURCES[request.mode]
    if not low <= len(sources) <= high:
        raise BadRequest(f"{request.mode} takes {low}..{high} pictures, got {len(sources)}")
    if request.mode == Mode.MIX and request.weights and len(request.weights) != len(sources):
        raise BadRequest("one weight per picture")
    if request.mode in (Mode.GENERATE, Mode.REMIX, Mode.PHOTO_PROMPT) and not request.prompt.strip():
        raise BadRequest("this mode needs a prompt")
