"""Mix two (up to four) photos into one picture: their IP-Adapter embeddings, a weight per photo, optional text.

Balance buttons send weights such as (0.3, 0.7); the engine normalises them. The aspect follows the first
photo unless the request names one (Studio._size).
"""

from __future__ import annotations

from PIL import Image

from .image_prompt import SCALE_PICTURES_ONLY, SCALE_WITH_TEXT, generate_like


def run(studio, plans, hooks) -> list[list[Image.Image]]:
    results = []
    for plan in plans:
        scale = SCALE_WITH_TEXT if plan.request.prompt.strip() else SCALE_PICTURES_ONLY
        results.append(generate_like(studio, plan, hooks, plan.sources, plan.request.weights, scale))
    return results
