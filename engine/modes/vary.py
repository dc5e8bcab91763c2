"""Vary a picture (ours or a user's photo): img2img from it, subtle or strong, same prompt and style, N new seeds."""

from __future__ import annotations

import math

from PIL import Image

from ..samplers import flow_matching
from . import pipes

# Fooocus's "Vary (Subtle)" and "Vary (Strong)" denoise.
STRENGTH = {"subtle": 0.5, "strong": 0.85}


# Shortest schedule an img2img call gets: with 1-2 step profiles int(steps * strength) would run 0 steps, or the
# same 1 step for subtle and strong; on 4 steps subtle runs 2 and strong 3.
MIN_SCHEDULE = 4


def denoise_steps(steps: int, strength: float) -> tuple[int, int]:
    """(num_inference_steps to ask for, steps that actually run) for img2img at `strength`.

    img2img runs the last int(steps * strength) steps of the schedule; the schedule is lengthened (to
    MIN_SCHEDULE, and until at least one step runs) so that few-step profiles still follow the strength.
    """
    steps = max(steps, MIN_SCHEDULE, math.ceil(1 / strength))
    while int(steps * strength) < 1:
        steps += 1
    return steps, min(int(steps * strength), steps)


def pipeline_strength(pipe, steps: int, runs: int, strength: float) -> float:
    """The strength to hand `pipe` so that it runs `runs` of `steps` (denoise_steps' count, which progress reports).

    SD's img2img pipelines run int(steps x strength) steps; the flow-matching ones (FLUX.2 klein, Qwen-Image; their
    get_timesteps, diffusers 0.42.1) start at int(steps - steps x strength), one step earlier wherever steps x
    strength is not whole: 0.85 of 4 steps ran all 4, from pure noise, so a strong variation kept nothing of its
    picture, and progress counted 4 steps of 3. Half a step less lands inside the step that denoise_steps counted.
    """
    if runs >= steps or not flow_matching(type(pipe.scheduler)):
        return strength
    return (runs - 0.5) / steps


def run(studio, plans, hooks) -> list[list[Image.Image]]:
    results = []
    for plan in plans:
        request = plan.request
        strength = request.strength or STRENGTH[request.variation]
        results.append(img2img(studio, plan, hooks, plan.sources[0], strength))
    return results


def img2img(studio, plan, hooks, picture: Image.Image, strength: float, pipe=None, **extra) -> list[Image.Image]:
    """The plan's pictures by img2img from `picture` (fitted to the plan's size) at `strength`; `pipe` (default:
    the img2img pipeline) may be an inpainting one given a full mask in `extra` (FLUX.2 klein)."""
    pipe = pipe or studio.models.img2img
    studio.prepare(pipe, plan)
    steps, runs = denoise_steps(plan.steps, strength)
    source = pipes.fit(picture, plan.width, plan.height)
    return pipes.call(
        studio,
        pipe,
        hooks,
        runs,
        plan,
        image=[source] * len(plan.seeds),
        strength=pipeline_strength(pipe, steps, runs, strength),
        width=plan.width,  # the families that do not follow the picture's size (Qwen-Image); SD takes no size
        height=plan.height,
        num_inference_steps=steps,
        **pipes.text_args(studio, plan),
        **extra,
    )
