"""What every image mode does around a diffusers call: text arguments, progress and cancel."""

from __future__ import annotations

import inspect
from typing import Any

from PIL import Image, ImageOps


class Interrupted(Exception):
    """Raised from an old-style step callback: those pipelines have no interrupt flag."""


def text_args(studio, plan) -> dict[str, Any]:
    """Prompt, negative prompt (only when guidance is on), guidance and one CPU generator per picture.

    Qwen-Image guides only with a negative prompt and `true_cfg_scale` (its `guidance_scale` is for distilled
    checkpoints); `call` drops the arguments a family's pipeline does not take.
    """
    count = len(plan.seeds)
    guided = plan.guidance > 1
    return {
        "prompt": [plan.styled_prompt] * count,
        "negative_prompt": [plan.negative_prompt] * count if guided else None,
        "guidance_scale": plan.guidance,
        "true_cfg_scale": plan.guidance if guided else 1.0,
        "generator": studio.generators([plan]),
    }


def fit(picture: Image.Image, width: int, height: int) -> Image.Image:
    """The picture at exactly width x height: scaled to cover, then centre-cropped (no distortion)."""
    if picture.size == (width, height):
        return picture
    return ImageOps.fit(picture, (width, height), Image.Resampling.LANCZOS)


def call(studio, pipe: Any, hooks, total: int, plan, **kwargs) -> list[Image.Image]:
    """`pipe(**kwargs)` for the plan's pictures, reporting `total` steps; [] when the job was cancelled mid-way.

    The same for every family: the family's fixed call arguments (Models.call_defaults) first, then only the
    arguments this pipeline takes (klein has no negative prompt, SD no true_cfg_scale); Kandinsky 5 answers
    `.image`, the others `.images`.
    """
    params = inspect.signature(pipe.__call__).parameters
    kwargs = {key: value for key, value in {**studio.models.call_defaults, **kwargs}.items() if key in params}
    if "callback_on_step_end" in params:
        kwargs["callback_on_step_end"] = hooks.step_callback(total)
    else:
        kwargs["callback"] = _old_style_callback(hooks, total)
    try:
        output = pipe(**kwargs)
    except Interrupted:
        return []
    images = output.images if hasattr(output, "images") else output.image
    return list(images)


def _old_style_callback(hooks, total: int):
    def callback(step: int, timestep: Any, latents: Any) -> None:
        hooks.progress(step + 1, total)
        if hooks.interrupted():
            raise Interrupted

    return callback
