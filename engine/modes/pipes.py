"""What every image mode does around a diffusers call: text arguments, progress and cancel."""

from __future__ import annotations

import inspect
from typing import Any

from PIL import Image, ImageOps


class Interrupted(Exception):
    """Raised from an old-style step callback: those pipelines have no interrupt flag."""


def text_args(studio, plan) -> dict[str, Any]:
    """Prompt, negative prompt (only when guidance is on), steps, guidance and one CPU generator per picture."""
    count = len(plan.seeds)
    return {
        "prompt": [plan.styled_prompt] * count,
        "negative_prompt": [plan.negative_prompt] * count if plan.guidance > 1 else None,
        "guidance_scale": plan.guidance,
        "generator": studio.generators([plan]),
    }


def fit(picture: Image.Image, width: int, height: int) -> Image.Image:
    """The picture at exactly width x height: scaled to cover, then centre-cropped (no distortion)."""
    if picture.size == (width, height):
        return picture
    return ImageOps.fit(picture, (width, height), Image.Resampling.LANCZOS)


def call(studio, pipe: Any, hooks, total: int, plan, **kwargs) -> list[Image.Image]:
    """`pipe(**kwargs)` for the plan's pictures, reporting `total` steps; [] when the job was cancelled mid-way."""
    params = inspect.signature(pipe.__call__).parameters
    if "callback_on_step_end" in params:
        kwargs["callback_on_step_end"] = hooks.step_callback(total)
    else:
        kwargs["callback"] = _old_style_callback(hooks, total)
    try:
        return list(pipe(**kwargs).images)
    except Interrupted:
        return []


def _old_style_callback(hooks, total: int):
    def callback(step: int, timestep: Any, latents: Any) -> None:
        hooks.progress(step + 1, total)
        if hooks.interrupted():
            raise Interrupted

    return callback
