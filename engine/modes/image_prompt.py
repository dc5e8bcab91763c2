"""Pictures as prompts through the IP-Adapter: their image embeddings, a weighted mix, and one call with them.

A mix is the weighted mean of the pictures' embeddings: one adapter serves any number of pictures, a weight each,
and each picture's embedding is cached on its own (loading the adapter once per picture would mix too, at a copy
of its weights per picture). The mean goes in as `ip_adapter_image_embeds=[rows]` with one row per picture to make
([B, 1, dim]), negatives first when guidance is on. The adapter is attached to the shared UNet only for the call
(engine/ip_adapter.py); only the worker thread ever gets here.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image

from . import pipes

# How strongly the picture(s) steer, by what the user gave: pictures alone, or pictures with words.
SCALE_PICTURES_ONLY = 1.0
SCALE_WITH_TEXT = 0.7
SCALE_PHOTO_WITH_CAPTION = 0.6  # the caption leads, the photo guides


def normalized(weights: Sequence[float], count: int) -> list[float]:
    if not weights:
        return [1.0 / count] * count
    total = float(sum(weights))
    return [float(weight) / total for weight in weights]


def picture_embeds(studio, pictures: Sequence[Image.Image], weights: Sequence[float], rows: int, guidance: float):
    """The mix of the pictures' embeddings, repeated for `rows` pictures (negatives first when guidance > 1).
    Inside `studio.models.ip_adapter.attached(...)`."""
    models = studio.models
    positive = negative = None
    for picture, weight in zip(pictures, normalized(weights, len(pictures)), strict=True):
        neg, pos = models.ip_adapter.embed(picture)
        positive = pos * weight if positive is None else positive + pos * weight
        negative = neg * weight if negative is None else negative + neg * weight
    if positive is None or negative is None:
        raise ValueError("picture_embeds needs at least one picture")
    parts = ([negative] * rows if guidance > 1 else []) + [positive] * rows
    return torch.cat(parts).to(models.device, models.dtype)


def generate_like(
    studio, plan, hooks, pictures: Sequence[Image.Image], weights: Sequence[float], scale: float
) -> list[Image.Image]:
    """Text-to-image with the pictures as an image prompt at `scale` (the plan's prompt may be empty)."""
    pipe = studio.models.text2img
    studio.prepare(pipe, plan)
    with studio.models.ip_adapter.attached(scale):
        embeds = picture_embeds(studio, pictures, weights, len(plan.seeds), plan.guidance)
        return pipes.call(
            studio,
            pipe,
            hooks,
            plan.steps,
            plan,
            width=plan.width,
            height=plan.height,
            num_inference_steps=plan.steps,
            ip_adapter_image_embeds=[embeds],
            **pipes.text_args(studio, plan),
        )
