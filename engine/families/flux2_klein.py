"""FLUX.2 klein (4B: Apache-2.0): text to image in 4 distilled steps, and editing from reference pictures.

One transformer, VAE and Qwen3 text encoder (multilingual: Russian prompts go in as typed) serve every mode:
- generate: `Flux2KleinPipeline` from text; batched across users.
- vary subtle / strong: img2img at 0.5 / 0.85, as `Flux2KleinInpaintPipeline` with a mask over everything.
- reimagine, photo + text: the picture as a reference (`image=[picture]`) with no text / with the caption;
  photo + text with a strength is img2img from the photo with the photo as a reference too.
- mix: the pictures as references, each at an area proportional to its weight, so the balance changes what the
  transformer attends to (a reference is at least 64 px a side, as the pipeline requires).
- remix keeping outlines: the picture's edge map as the reference, the new prompt; structure 0 leaves it out.
- zoom out: `Flux2KleinInpaintPipeline` paints the new border (engine/modes/zoom.py).
- edit by instruction: the picture as the reference and the instruction alone as the prompt (klein edits from a
  reference natively), at the picture's own size floored to 16 (at most EDIT_AREA times the native area); the
  files record the chain of changes as SD's edit does (engine/modes/edit.py).
- repaint a region: `Flux2KleinInpaintPipeline` through engine/modes/inpaint.py (its grown mask, its composite:
  outside the mask the file is the source; a mask over nearly everything is a new picture).
- 4K: the GAN (or Lanczos), then native-size tiles refined by img2img at 0.3 and blended (families/common.py).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from PIL import Image

from ..api import Mode
from ..modes import edit, generate, inpaint, pipes, restyle, vary, zoom
from ..modes.image_prompt import normalized
from ..modes.remix import edge_map
from . import Defaults, Family
from .common import family_models, full_mask, load_base, sibling, upscale_refined

MIN_REFERENCE = 64  # the pipeline refuses smaller references ("Image too small")
MULTIPLE = 16  # VAE x8, then 2x2 patches
EDIT_AREA = 4  # FLUX.2 draws up to 4 MP (native 1024): a larger photo is edited at that area, its aspect kept


def load(settings: Any, styles: dict, model: str, device: torch.device, dtype: torch.dtype) -> Any:
    from diffusers import Flux2KleinInpaintPipeline, Flux2KleinPipeline

    base = load_base(Flux2KleinPipeline, model, settings, styles, device, dtype)
    return family_models(FAMILY, base, settings, MULTIPLE, inpaint=sibling(Flux2KleinInpaintPipeline, base.t2i))


def img2img(studio, plan, hooks, picture: Image.Image, strength: float, **extra) -> list[Image.Image]:
    """img2img: the inpainting pipeline repainting everything at `strength`."""
    size = (plan.width, plan.height)
    return vary.img2img(
        studio, plan, hooks, picture, strength, pipe=studio.models.inpaint, mask_image=full_mask(size), **extra
    )


def with_references(studio, plan, hooks, references: list[Image.Image]) -> list[Image.Image]:
    """Text to image with reference pictures (none: plain text to image) at the plan's size."""
    pipe = studio.models.text2img
    studio.prepare(pipe, plan)
    return pipes.call(
        studio, pipe, hooks, plan.steps, plan, image=references or None, width=plan.width, height=plan.height,
        num_inference_steps=plan.steps, **pipes.text_args(studio, plan),
    )  # fmt: skip


def reference(picture: Image.Image, width: int, height: int, share: float = 1.0) -> Image.Image:
    """The picture fitted into width x height scaled by sqrt(share) (its area by `share`), at least 64 px a side."""
    scale = min(width / picture.width, height / picture.height) * math.sqrt(max(share, 0.0))
    w, h = round(picture.width * scale), round(picture.height * scale)
    grow = max(1.0, MIN_REFERENCE / max(1, min(w, h)))
    return picture.resize(
        (max(MIN_REFERENCE, round(w * grow)), max(MIN_REFERENCE, round(h * grow))), Image.Resampling.LANCZOS
    )


def _vary(studio, plans, hooks) -> list[list[Image.Image]]:
    results = []
    for plan in plans:
        strength = plan.request.strength or vary.STRENGTH[plan.request.variation]
        results.append(img2img(studio, plan, hooks, plan.sources[0], strength))
    return results


def _restyle(studio, plans, hooks) -> list[list[Image.Image]]:
    return restyle.run(studio, plans, hooks, img2img=img2img)


def _reimagine(studio, plans, hooks) -> list[list[Image.Image]]:
    return [
        with_references(studio, plan, hooks, [reference(plan.sources[0], plan.width, plan.height)]) for plan in plans
    ]


def _mix(studio, plans, hooks) -> list[list[Image.Image]]:
    results = []
    for plan in plans:
        shares = normalized(plan.request.weights, len(plan.sources))
        top = max(shares)
        refs = [
            reference(p, plan.width, plan.height, s / top) for p, s in zip(plan.sources, shares, strict=True) if s > 0
        ]
        results.append(with_references(studio, plan, hooks, refs))
    return results


def _photo_prompt(studio, plans, hooks) -> list[list[Image.Image]]:
    results = []
    for plan in plans:
        photo = reference(plan.sources[0], plan.width, plan.height)
        if plan.request.strength is None:
            results.append(with_references(studio, plan, hooks, [photo]))
        else:
            results.append(
                img2img(studio, plan, hooks, plan.sources[0], plan.request.strength, image_reference=[photo])
            )
    return results


def _remix(studio, plans, hooks) -> list[list[Image.Image]]:
    results = []
    for plan in plans:
        outlines = edge_map(pipes.fit(plan.sources[0], plan.width, plan.height), 3)
        results.append(with_references(studio, plan, hooks, [outlines] if plan.request.structure > 0 else []))
    return results


def edit_size(picture: Image.Image, native: int) -> tuple[int, int]:
    """The picture's own size floored to MULTIPLE, scaled down first where it is over EDIT_AREA x native²."""
    scale = min(1.0, math.sqrt(EDIT_AREA * native * native / (picture.width * picture.height)))
    return _floor(picture.width * scale), _floor(picture.height * scale)


def _floor(side: float) -> int:
    return max(MULTIPLE, int(side) // MULTIPLE * MULTIPLE)


def _edit(studio, plans, hooks) -> list[list[Image.Image]]:
    return [edit_one(studio, plan, hooks) for plan in plans]


def edit_one(studio, plan, hooks) -> list[Image.Image]:
    """The picture as the reference, the instruction alone as the prompt, at the picture's own size."""
    instruction = edit.apply_instruction(studio, plan)  # the files keep the chain; klein reads the wish alone
    plan.width, plan.height = edit_size(plan.sources[0], studio.models.native)
    pipe = studio.models.text2img
    studio.prepare(pipe, plan)
    args = {**pipes.text_args(studio, plan), "prompt": [instruction] * len(plan.seeds)}
    return pipes.call(
        studio, pipe, hooks, plan.steps, plan, image=[pipes.fit(plan.sources[0], plan.width, plan.height)],
        width=plan.width, height=plan.height, num_inference_steps=plan.steps, **args,
    )  # fmt: skip


FAMILY = Family(
    name="flux2_klein",
    pipelines=("Flux2KleinPipeline", "Flux2KleinInpaintPipeline"),
    multilingual=True,
    # Distilled: 4 steps, guidance ignored (is_distilled); the fast profile is the same schedule.
    defaults=Defaults(quality_steps=4, quality_guidance=1.0, fast_steps=4, fast_guidance=1.0, native=1024),
    load=load,
    runners={
        Mode.GENERATE: generate.run,
        Mode.VARY: _vary,
        Mode.RESTYLE: _restyle,
        Mode.REIMAGINE: _reimagine,
        Mode.MIX: _mix,
        Mode.REMIX: _remix,
        Mode.PHOTO_PROMPT: _photo_prompt,
        Mode.UPSCALE: upscale_refined(img2img),
        Mode.ZOOM: zoom.run,
        Mode.EDIT: _edit,
        Mode.INPAINT: inpaint.run,
    },
)
