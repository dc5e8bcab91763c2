"""Text to pictures (and "same prompt and seed through another style"): one call for a whole batch, any family."""

from __future__ import annotations

from PIL import Image

from . import pipes


def run(studio, plans, hooks) -> list[list[Image.Image]]:
    models = studio.models
    pipe = models.text2img
    first = plans[0]
    studio.prepare(pipe, first)
    guided = first.guidance > 1
    images = pipes.call(
        studio,
        pipe,
        hooks,
        first.steps,
        first,
        prompt=[plan.styled_prompt for plan in plans for _ in plan.seeds],
        negative_prompt=[plan.negative_prompt for plan in plans for _ in plan.seeds] if guided else None,
        width=first.width,
        height=first.height,
        num_inference_steps=first.steps,
        guidance_scale=first.guidance,
        true_cfg_scale=first.guidance if guided else 1.0,
        **({"guidance_rescale": first.guidance_rescale} if first.guidance_rescale else {}),
        generator=studio.generators(plans),
    )
    result, start = [], 0
    for plan in plans:
        result.append(images[start : start + len(plan.seeds)])
        start += len(plan.seeds)
    return result
