"""Pictures of ours carry their generation parameters (read with the pixels: engine.images.decode_source); a
request about one gets what it leaves empty from them: the prompt, the style, and for "another style" the seed
and the aspect.
"""

from __future__ import annotations

import math
from dataclasses import replace

from ..api import ASPECTS, ImageRequest, Mode
from ..styles import Style

# Modes whose empty prompt (and style) come from a picture of ours.
TAKES_PROMPT = frozenset({Mode.VARY, Mode.RESTYLE, Mode.REMIX, Mode.UPSCALE, Mode.ZOOM, Mode.EDIT, Mode.INPAINT})
# Pictures that the same prompt and seed make again (others are restyled from their pixels).
REGENERABLE = frozenset({Mode.GENERATE.value, Mode.RESTYLE.value})


def complete_request(request: ImageRequest, params: dict | None, styles: dict[str, Style]) -> ImageRequest:
    """`params`: what the request's first picture carries (None: not one of ours, or no picture)."""
    if not params or request.mode not in TAKES_PROMPT:
        return request
    changes: dict = {}
    if not request.prompt.strip():
        base = unstyled_prompt(params, styles)
        if base is not None:  # exactly what the text encoder saw, minus the style: nothing to translate again
            changes.update(prompt=base, translate=False, beautify=False)
        else:
            changes["prompt"] = str(params.get("user_prompt") or "")
    if request.mode != Mode.RESTYLE and request.style is None and params.get("style") in styles:
        changes["style"] = params["style"]
    if request.mode == Mode.RESTYLE and params.get("mode") in REGENERABLE:
        # Same prompt and seed through another style: generate again at the picture's own aspect.
        if request.seed is None and isinstance(params.get("seed"), int):
            changes["seed"] = params["seed"]
        if isinstance(params.get("width"), int) and isinstance(params.get("height"), int):
            changes["aspect"] = nearest_aspect(params["width"], params["height"])
        changes["images"] = ()
    return replace(request, **changes)


def unstyled_prompt(params: dict, styles: dict[str, Style]) -> str | None:
    """The prompt before the picture's style template was applied (Style.apply inverted), or None."""
    style = styles.get(str(params.get("style")))
    styled = params.get("prompt")
    if style is None or not isinstance(styled, str) or style.prompt.count("{prompt}") != 1:
        return None
    before, _, after = style.prompt.partition("{prompt}")
    before, after = before.lstrip(" ,"), after.rstrip(" ,")
    if len(styled) < len(before) + len(after) or not (styled.startswith(before) and styled.endswith(after)):
        return None
    base = styled[len(before) : len(styled) - len(after)].strip()
    return base or None


def nearest_aspect(width: int, height: int) -> str:
    ratio = math.log(max(width, 1) / max(height, 1))

    def distance(aspect: str) -> float:
        w, h = (int(part) for part in aspect.split(":"))
        return abs(math.log(w / h) - ratio)

    return min(ASPECTS, key=distance)
