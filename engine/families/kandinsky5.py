"""Kandinsky 5.0 Image Lite (MIT): text to image and image editing (I2I), prompts in Russian as typed.

T2I and I2I need different transformers (I2I's takes the picture as a visual condition); both share the VAE and
the two text encoders (Qwen2.5-VL + CLIP). The I2I transformer comes from the model folder's `transformer_i2i/`
or from ENGINE_EDIT_MODEL (the I2I checkpoint's folder); without it the picture modes are not offered.
- generate: `Kandinsky5T2IPipeline`; a job's pictures in one call, never two users' (FAMILY.batchable says why).
- vary: I2I has no strength; subtle = the picture as the condition with its prompt, strong = a softened copy
  (a quarter of the size, blurred) as the condition, so layout and colours stay and the details are new.
- reimagine: the softened copy without text; photo + text: the photo with the caption; remix: its edge map with
  the new prompt (structure 0: text alone); restyle of a photo: the photo with the new style's prompt.
- edit by instruction: I2I with the picture and the instruction alone as the prompt (the files record the chain
  as SD's edit does).
- mix, zoom out and repainting a region are not offered: I2I conditions on one picture and the family has no
  inpainting pipeline.
- 4K: the GAN (or Lanczos).
The pipeline snaps sizes to its list `resolutions` (not saved with the folder): each call lists its own size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageFilter

from ..api import Mode
from ..modes import edit as edit_mode
from ..modes import generate, pipes
from ..modes.remix import edge_map
from . import Defaults, Family
from .common import family_models, load_base, sibling, upscale_gan

MULTIPLE = 16  # VAE x8, then 2x2 patches
SOFTEN = 4  # the strong variation's condition: a quarter of the size, blurred


def load(settings: Any, styles: dict, model: str, device: torch.device, dtype: torch.dtype) -> Any:
    from diffusers import Kandinsky5I2IPipeline, Kandinsky5T2IPipeline, Kandinsky5Transformer3DModel

    from . import processors  # noqa: F401  (a folder's tokenizer may name it: it must be imported first)

    base = load_base(Kandinsky5T2IPipeline, model, settings, styles, device, dtype)
    pipes_: dict[str, Any] = {}
    i2i_folder = _i2i_transformer(model, settings.edit_model)
    if i2i_folder is not None:
        transformer = Kandinsky5Transformer3DModel.from_pretrained(str(i2i_folder), dtype=dtype).to(device)
        pipes_["i2i"] = sibling(Kandinsky5I2IPipeline, base.t2i, transformer=transformer)
    return family_models(FAMILY, base, settings, MULTIPLE, pipes=pipes_)


def _i2i_transformer(model: str, edit_model: str) -> Path | None:
    if edit_model:
        return Path(edit_model) / "transformer"
    inside = Path(model) / "transformer_i2i"
    return inside if inside.is_dir() else None


def _generate(studio, plans, hooks) -> list[list[Image.Image]]:
    studio.models.text2img.resolutions = [(plans[0].width, plans[0].height)]
    return generate.run(studio, plans, hooks)


def edit(studio, plan, hooks, picture: Image.Image | None, prompt: str | None = None) -> list[Image.Image]:
    """I2I with `picture` as the condition (None: text to image), one list entry per picture: I2I with
    num_images_per_prompt > 1 fails in diffusers 0.42.1."""
    pipe = studio.models.pipes["i2i"] if picture is not None else studio.models.text2img
    pipe.resolutions = [(plan.width, plan.height)]
    studio.prepare(pipe, plan)
    args = pipes.text_args(studio, plan)
    if prompt is not None:
        args["prompt"] = [prompt] * len(plan.seeds)
    extra = {"image": [pipes.fit(picture, plan.width, plan.height)] * len(plan.seeds)} if picture is not None else {}
    return pipes.call(
        studio, pipe, hooks, plan.steps, plan, width=plan.width, height=plan.height,
        num_inference_steps=plan.steps, **args, **extra,
    )  # fmt: skip


def soften(picture: Image.Image) -> Image.Image:
    small = picture.resize(
        (max(8, picture.width // SOFTEN), max(8, picture.height // SOFTEN)), Image.Resampling.BICUBIC
    )
    return small.filter(ImageFilter.GaussianBlur(1)).resize(picture.size, Image.Resampling.BICUBIC)


def _vary(studio, plans, hooks) -> list[list[Image.Image]]:
    results = []
    for plan in plans:
        picture = plan.sources[0]
        results.append(edit(studio, plan, hooks, soften(picture) if plan.request.variation == "strong" else picture))
    return results


def _restyle(studio, plans, hooks) -> list[list[Image.Image]]:
    by_text = [plan for plan in plans if not plan.sources]
    drawn = dict(zip(map(id, by_text), _generate(studio, by_text, hooks) if by_text else [], strict=True))
    return [drawn[id(plan)] if not plan.sources else edit(studio, plan, hooks, plan.sources[0]) for plan in plans]


def _reimagine(studio, plans, hooks) -> list[list[Image.Image]]:
    return [edit(studio, plan, hooks, soften(plan.sources[0]), prompt="") for plan in plans]


def _photo_prompt(studio, plans, hooks) -> list[list[Image.Image]]:
    return [edit(studio, plan, hooks, plan.sources[0]) for plan in plans]


def _remix(studio, plans, hooks) -> list[list[Image.Image]]:
    results = []
    for plan in plans:
        outlines = edge_map(pipes.fit(plan.sources[0], plan.width, plan.height), 3)
        results.append(edit(studio, plan, hooks, outlines if plan.request.structure > 0 else None))
    return results


def _edit(studio, plans, hooks) -> list[list[Image.Image]]:
    results = []
    for plan in plans:
        instruction = edit_mode.apply_instruction(studio, plan)  # the files keep the chain; I2I reads the wish
        results.append(edit(studio, plan, hooks, plan.sources[0], prompt=instruction))
    return results


PICTURE_MODES = frozenset({Mode.VARY, Mode.REIMAGINE, Mode.PHOTO_PROMPT, Mode.REMIX, Mode.EDIT})


def _available(mode: Mode, models: Any) -> bool:
    return mode not in PICTURE_MODES or "i2i" in models.pipes


FAMILY = Family(
    name="kandinsky5",
    pipelines=("Kandinsky5T2IPipeline", "Kandinsky5I2IPipeline"),
    multilingual=True,
    defaults=Defaults(quality_steps=50, quality_guidance=3.5, fast_steps=20, fast_guidance=3.5, native=1024),
    load=load,
    runners={
        Mode.GENERATE: _generate,
        Mode.VARY: _vary,
        Mode.RESTYLE: _restyle,
        Mode.REIMAGINE: _reimagine,
        Mode.REMIX: _remix,
        Mode.PHOTO_PROMPT: _photo_prompt,
        Mode.UPSCALE: upscale_gan,
        Mode.EDIT: _edit,
    },
    gaps={
        Mode.MIX: "Kandinsky5I2IPipeline conditions on one picture; there is no multi-picture edit",
        Mode.ZOOM: "diffusers 0.42.1 has no Kandinsky 5 inpainting pipeline",
        Mode.INPAINT: "diffusers 0.42.1 has no Kandinsky 5 inpainting pipeline",
    },
    available=_available,
    # No jobs of different users in one call: diffusers 0.42.1 pads the prompts of a batch to the longest and feeds
    # the pad tokens to the transformer unmasked (its cu_seqlens are not passed on), so a picture drawn beside a
    # longer prompt is not the one its seed makes alone (up to 20/255 apart on the tiny kit). A job's own pictures
    # (one prompt) still share a call.
    batchable=frozenset(),
)
