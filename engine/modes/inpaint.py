"""Repaint a region: the masked part of a picture painted anew as the instruction says; the rest stays as it was.

Runs the inpainting pipeline on the shared 4-channel UNet (as zoom does). The mask is grown a little for the
pipeline, so the seam is repainted too, and the result is laid over the source through a feathered copy of it:
outside the grown mask the pixels are the source's own. An empty instruction asks to remove what is there: the
region is painted from the picture's own prompt. A mask over nearly all of the picture (engine.masks.FULL) is a
new picture from the same prompt. Families with their own inpainting (Flux2KleinInpaintPipeline, Qwen-Image
inpaint) take the same grown mask and the same composite; a family without one should not list the mode.
"""

from __future__ import annotations

from PIL import Image, ImageChops, ImageFilter

from ..masks import FULL, coverage, read_mask
from . import edit, generate, pipes

FEATHER = 0.02  # of the picture's shorter side: how far the mask is grown, and the width of the blend
MIN_FEATHER_PX = 3


def run(studio, plans, hooks) -> list[list[Image.Image]]:
    return [repaint(studio, plan, hooks) for plan in plans]


def masks(mask: Image.Image) -> tuple[Image.Image, Image.Image]:
    """(mask for the pipeline: grown by two feathers, hard; soft mask for laying the result over the source:
    grown by one feather and blurred, never beyond the pipeline's mask)."""
    feather = max(MIN_FEATHER_PX, round(min(mask.size) * FEATHER))
    grown = mask.filter(ImageFilter.MaxFilter(2 * feather + 1))
    paint = grown.filter(ImageFilter.MaxFilter(2 * feather + 1))
    soft = ImageChops.darker(grown.filter(ImageFilter.GaussianBlur(feather / 2)), paint)
    return paint, soft


def repaint(studio, plan, hooks) -> list[Image.Image]:
    source = plan.sources[0]
    mask = read_mask(plan.request.mask, source.size)  # checked at submit already; cheap
    edit.apply_instruction(studio, plan)
    if coverage(mask) >= FULL:  # nothing left to keep: a new picture from the same prompt
        return generate.run(studio, [plan], hooks)[0]
    paint, soft = masks(mask)
    size = (plan.width, plan.height)
    pipe = studio.models.inpaint
    studio.prepare(pipe, plan)
    # A copy per picture: SD's inpainting pipelines VAE-sample one source picture with the first generator only,
    # so picture 2 would not be what its seed makes alone.
    count = len(plan.seeds)
    images = pipes.call(
        studio,
        pipe,
        hooks,
        plan.steps,
        plan,
        image=[source.resize(size, Image.Resampling.LANCZOS)] * count,
        mask_image=[paint.resize(size, Image.Resampling.NEAREST)] * count,
        width=plan.width,
        height=plan.height,
        strength=1.0,
        num_inference_steps=plan.steps,
        **pipes.text_args(studio, plan),
    )
    return [Image.composite(image.resize(source.size, Image.Resampling.LANCZOS), source, soft) for image in images]
