"""Vary through another style: the same prompt and seed through a new style.

With no picture (or a picture of ours that the same prompt and seed make again: modes/ours.py turned it into
prompt + seed + aspect) it is text-to-image with that seed. With a plain photo it is img2img at a moderate strength,
so the photo's composition stays while the new style takes over.
"""

from __future__ import annotations

from PIL import Image

from . import generate, vary

PHOTO_STRENGTH = 0.6


def run(studio, plans, hooks, img2img=vary.img2img) -> list[list[Image.Image]]:
    """`img2img`: the family's way (FLUX.2 klein: its inpainting pipeline with a full mask)."""
    by_text = [plan for plan in plans if not plan.sources]
    results = dict(zip(map(id, by_text), generate.run(studio, by_text, hooks) if by_text else [], strict=True))
    for plan in plans:
        if plan.sources:
            strength = plan.request.strength or PHOTO_STRENGTH
            results[id(plan)] = img2img(studio, plan, hooks, plan.sources[0], strength)
    return [results[id(plan)] for plan in plans]
