"""What every image mode does around a diffusers call: text arguments, progress and cancel, a silent IP-Adapter.

The IP-Adapter patches the shared UNet, which from then on wants image embeddings on every call. Pipelines that
take `ip_adapter_image_embeds` get zeros at scale 0 (Studio.no_image_prompt); the SD1.5 T2I-Adapter pipeline
knows nothing of IP-Adapters, so for it a forward pre-hook on the UNet adds the zeros for the length of the call.
"""

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
    hook = None
    if studio.models.ip_adapter and "ip_adapter_image_embeds" not in kwargs:
        if "ip_adapter_image_embeds" in params:
            kwargs.update(studio.no_image_prompt(len(plan.seeds), plan.guidance))
        else:
            hook = _silence_image_prompt(studio, pipe.unet)
    if "callback_on_step_end" in params:
        kwargs["callback_on_step_end"] = hooks.step_callback(total)
    else:
        kwargs["callback"] = _old_style_callback(hooks, total)
    try:
        return list(pipe(**kwargs).images)
    except Interrupted:
        return []
    finally:
        if hook is not None:
            hook.remove()


def _old_style_callback(hooks, total: int):
    def callback(step: int, timestep: Any, latents: Any) -> None:
        hooks.progress(step + 1, total)
        if hooks.interrupted():
            raise Interrupted

    return callback


def _silence_image_prompt(studio, unet: Any):
    studio.models.text2img.set_ip_adapter_scale(0.0)
    dim = studio.image_embeds_dim()

    def add_zero_image_embeds(module: Any, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        added = dict(kwargs.get("added_cond_kwargs") or {})
        if "image_embeds" not in added:
            sample = args[0] if args else kwargs["sample"]
            added["image_embeds"] = [sample.new_zeros(sample.shape[0], 1, dim)]
            kwargs["added_cond_kwargs"] = added
        return args, kwargs

    return unet.register_forward_pre_hook(add_zero_image_embeds, with_kwargs=True)
