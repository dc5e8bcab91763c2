"""Remix keeping the outlines: the picture's Canny edge map drives a T2I-Adapter (or ControlNet); new prompt/style.

`ImageRequest.structure` (0..2) is the adapter's conditioning scale: 0 ignores the outlines, 1 follows them,
2 clings to them. Qwen-Image's ControlNet goes through `with_outlines` too (engine/families/qwen_image.py).
"""

from __future__ import annotations

from PIL import Image

from ..edges import canny
from . import pipes


def run(studio, plans, hooks) -> list[list[Image.Image]]:
    return [_remix(studio, plan, hooks) for plan in plans]


def edge_map(picture: Image.Image, channels: int) -> Image.Image:
    edges = canny(picture)
    return edges if channels == 1 else edges.convert("RGB")


def _remix(studio, plan, hooks) -> list[Image.Image]:
    pipe = studio.models.structure
    source = pipes.fit(plan.sources[0], plan.width, plan.height)
    if studio.models.structure_kind == "controlnet":
        control = edge_map(source, pipe.controlnet.config.conditioning_channels)
        return with_outlines(studio, plan, hooks, image=control, controlnet_conditioning_scale=plan.request.structure)
    control = edge_map(source, pipe.adapter.config.in_channels)
    # One condition per picture: the SD1.5 adapter pipeline repeats a single one only per prompt.
    outlines = [control] * len(plan.seeds)
    return with_outlines(studio, plan, hooks, image=outlines, adapter_conditioning_scale=plan.request.structure)


def with_outlines(studio, plan, hooks, **outline_args) -> list[Image.Image]:
    """The outline-keeping pipeline (Models.structure) at the plan's size, steps, prompt and style, given the edge
    map and its scale in the pipeline's own argument names (`outline_args`)."""
    pipe = studio.models.structure
    studio.prepare(pipe, plan)
    return pipes.call(
        studio,
        pipe,
        hooks,
        plan.steps,
        plan,
        width=plan.width,
        height=plan.height,
        num_inference_steps=plan.steps,
        **pipes.text_args(studio, plan),
        **outline_args,
    )
