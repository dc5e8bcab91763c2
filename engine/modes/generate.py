"""Text to pictures (and "same prompt and seed through another style"): one call for a whole batch."""

from __future__ import annotations

from PIL import Image


def run(studio, plans, hooks) -> list[list[Image.Image]]:
    models = studio.models
    pipe = models.text2img
    first = plans[0]
    studio.fresh_scheduler(pipe, first.style)
    studio.use_style_adapters(pipe, first.style)
    prompts = [plan.styled_prompt for plan in plans for _ in plan.seeds]
    negatives = [plan.negative_prompt for plan in plans for _ in plan.seeds]
    output = pipe(
        prompt=prompts,
        negative_prompt=negatives if first.guidance > 1 else None,
        width=first.width,
        height=first.height,
        num_inference_steps=first.steps,
        guidance_scale=first.guidance,
        **({"guidance_rescale": first.guidance_rescale} if first.guidance_rescale else {}),
        generator=studio.generators(plans),
        callback_on_step_end=hooks.step_callback(first.steps),
    )
    images = list(output.images)
    result, start = [], 0
    for plan in plans:
        result.append(images[start : start + len(plan.seeds)])
        start += len(plan.seeds)
    return result
