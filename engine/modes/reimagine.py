"""Image variation without text: the picture is the prompt (IP-Adapter), new pictures with their own seeds."""

from __future__ import annotations

from PIL import Image

from .image_prompt import SCALE_PICTURES_ONLY, generate_like


def run(studio, plans, hooks) -> list[list[Image.Image]]:
    return [generate_like(studio, plan, hooks, plan.sources[:1], (), SCALE_PICTURES_ONLY) for plan in plans]
