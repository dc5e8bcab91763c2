"""Qwen-Image (Apache-2.0): text to image, img2img, inpainting on one 20B transformer; Qwen2.5-VL reads Russian.

- generate: `QwenImagePipeline`, batched across users (a picture equals its single run).
- vary subtle / strong, restyle of a photo, photo + text: `QwenImageImg2ImgPipeline` at 0.5 / 0.85 / 0.6 / 0.7.
- zoom out: `QwenImageInpaintPipeline` paints the new border (engine/modes/zoom.py).
- 4K: the GAN (or Lanczos), then native-size tiles refined by img2img at 0.3 and blended (families/common.py).
Guidance is true CFG: a negative prompt and `true_cfg_scale` (the pipeline ignores `guidance_scale`).
img2img and inpaint draw the VAE's sample with the first generator only: a batched picture would differ from its
own single run, so those modes run one call per picture (the seed under a picture always makes it again).
- reimagine and mix, with an edit transformer (the model folder's `transformer_edit/`, or ENGINE_EDIT_MODEL: a
  Qwen-Image-Edit-2509 folder, whose transformer/ and processor/ are loaded beside Qwen-Image's, sharing the VAE
  and the text encoder): `QwenImageEditPlusPipeline` with the picture(s) and an instruction. A mix names each
  picture's share in the instruction ("60% of picture 1, 40% of picture 2"): the edit model follows the wording,
  so the balance changes the result. Without it these modes are not offered.
- edit by instruction, with the same edit transformer: Edit-Plus with the picture and the instruction alone (the
  files record the chain as SD's edit does); without it not offered.
- repaint a region: `QwenImageInpaintPipeline` through engine/modes/inpaint.py (grown mask, composite: outside
  the mask the file is the source), one call per picture.
- remix keeping outlines, with a ControlNet (ENGINE_STRUCTURE_ADAPTER: InstantX/Qwen-Image-ControlNet-Union, 5 blocks
  of the transformer, ≈ 3.5 GB): `QwenImageControlNetPipeline` on the shared weights, the picture's Canny edge map as
  `control_image`, the outline strength as `controlnet_conditioning_scale` (0: the prompt alone). The pipeline
  VAE-encodes the edge map drawing from each picture's own generator, so a batch still gives each seed's picture.
  Without a ControlNet remix is not offered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from ..api import Mode
from ..modes import edit as edit_mode
from ..modes import generate, inpaint, photo_prompt, pipes, remix, restyle, vary, zoom
from ..modes.image_prompt import normalized
from . import Defaults, Family
from .common import family_models, load_base, sibling, upscale_refined

MULTIPLE = 16  # VAE x8, then 2x2 patches


def load(settings: Any, styles: dict, model: str, device: torch.device, dtype: torch.dtype) -> Any:
    from diffusers import QwenImageImg2ImgPipeline, QwenImageInpaintPipeline, QwenImagePipeline

    base = load_base(QwenImagePipeline, model, settings, styles, device, dtype)
    return family_models(
        FAMILY,
        base,
        settings,
        MULTIPLE,
        img2img=sibling(QwenImageImg2ImgPipeline, base.t2i),
        inpaint=sibling(QwenImageInpaintPipeline, base.t2i),
        pipes=_load_edit(base.t2i, model, settings.edit_model, device, dtype),
        **_load_controlnet(base.t2i, settings.structure_adapter, device, dtype),
    )


def _load_controlnet(t2i: Any, folder: str, device: torch.device, dtype: torch.dtype) -> dict[str, Any]:
    """{structure: the ControlNet pipeline over t2i's modules, structure_kind}, or {} without a ControlNet.

    The config is read first: a folder left over from SD (a T2I-Adapter, an SD ControlNet) is refused by name
    instead of loading as a Qwen-Image ControlNet with random weights where its keys do not fit."""
    from diffusers import QwenImageControlNetModel, QwenImageControlNetPipeline

    if not folder:
        return {}
    kind = QwenImageControlNetModel.load_config(folder).get("_class_name", "")
    if kind and not kind.startswith("QwenImage"):
        raise ValueError(
            f"ENGINE_STRUCTURE_ADAPTER={folder} holds a {kind}, not a Qwen-Image ControlNet: point it at one "
            "(InstantX/Qwen-Image-ControlNet-Union), or leave it empty for no remix"
        )
    controlnet = QwenImageControlNetModel.from_pretrained(folder, dtype=dtype).to(device)
    pipe = sibling(QwenImageControlNetPipeline, t2i, controlnet=controlnet)
    return {"structure": pipe, "structure_kind": "controlnet"}


def _load_edit(t2i: Any, model: str, edit_model: str, device: torch.device, dtype: torch.dtype) -> dict[str, Any]:
    """{"edit": Edit-Plus on the shared VAE and text encoder with its own transformer}, or {} without one."""
    from diffusers import QwenImageEditPlusPipeline
    from diffusers.models import QwenImageTransformer2DModel

    from .processors import ImageQwen2VLProcessor

    if edit_model:
        transformer_dir, processor_dir = Path(edit_model) / "transformer", Path(edit_model) / "processor"
    else:
        transformer_dir, processor_dir = Path(model) / "transformer_edit", Path(model) / "processor"
    if not transformer_dir.is_dir():
        return {}
    transformer = QwenImageTransformer2DModel.from_pretrained(str(transformer_dir), dtype=dtype).to(device)
    processor = ImageQwen2VLProcessor.from_pretrained(str(processor_dir))
    return {"edit": sibling(QwenImageEditPlusPipeline, t2i, transformer=transformer, processor=processor)}


REIMAGINE = "A new picture of the same subject, in the same style and colours as this image."


def edit(studio, plan, hooks, pictures: list[Image.Image], prompt: str) -> list[Image.Image]:
    """Edit-Plus with `pictures`: one prompt, a picture per seed (num_images_per_prompt with a generator each)."""
    pipe = studio.models.pipes["edit"]
    studio.prepare(pipe, plan)
    args = pipes.text_args(studio, plan)
    args.update(prompt=prompt, negative_prompt=plan.negative_prompt if plan.guidance > 1 else None)
    return pipes.call(
        studio, pipe, hooks, plan.steps, plan, image=pictures, width=plan.width, height=plan.height,
        num_inference_steps=plan.steps, num_images_per_prompt=len(plan.seeds), **args,
    )  # fmt: skip


def _reimagine(studio, plans, hooks) -> list[list[Image.Image]]:
    return [edit(studio, plan, hooks, plan.sources[:1], plan.styled_prompt or REIMAGINE) for plan in plans]


def mix_instruction(shares: list[float], text: str) -> str:
    parts = ", ".join(f"{round(share * 100)}% of picture {i}" for i, share in enumerate(shares, start=1) if share > 0)
    return f"Blend these pictures into one new picture: {parts}." + (f" {text}" if text else "")


def _mix(studio, plans, hooks) -> list[list[Image.Image]]:
    results = []
    for plan in plans:
        shares = normalized(plan.request.weights, len(plan.sources))
        pictures = [picture for picture, share in zip(plan.sources, shares, strict=True) if share > 0]
        results.append(edit(studio, plan, hooks, pictures, mix_instruction(shares, plan.styled_prompt)))
    return results


def _edit(studio, plans, hooks) -> list[list[Image.Image]]:
    results = []
    for plan in plans:
        instruction = edit_mode.apply_instruction(studio, plan)  # the files keep the chain; Edit reads the wish
        results.append(edit(studio, plan, hooks, plan.sources[:1], instruction))
    return results


def _remix(studio, plans, hooks) -> list[list[Image.Image]]:
    results = []
    for plan in plans:
        outlines = remix.edge_map(pipes.fit(plan.sources[0], plan.width, plan.height), 3)  # the VAE reads RGB
        results.append(
            remix.with_outlines(
                studio, plan, hooks, control_image=outlines, controlnet_conditioning_scale=plan.request.structure
            )
        )
    return results


EDIT_MODES = frozenset({Mode.REIMAGINE, Mode.MIX, Mode.EDIT})


def _available(mode: Mode, models: Any) -> bool:
    if mode == Mode.REMIX:
        return models.structure is not None
    return mode not in EDIT_MODES or "edit" in models.pipes


def per_picture(runner):
    """The runner called once per picture (its own seed alone), the pictures gathered per plan. Progress counts the
    steps of all those calls as the job's one bar (not a bar that fills and starts again for each picture)."""

    def run(studio, plans, hooks) -> list[list[Image.Image]]:
        results, done, count = [], 0, sum(len(plan.seeds) for plan in plans)
        for plan in plans:
            pictures: list[Image.Image] = []
            for seed in plan.seeds:
                single = replace(plan, seeds=[seed])
                pictures += runner(studio, [single], replace(hooks, progress=_one_of(hooks.progress, done, count)))[0]
                done += 1
                if hooks.interrupted():
                    break
            results.append(pictures)
        return results

    return run


def _one_of(progress: Callable[[int, int], None], done: int, count: int) -> Callable[[int, int], None]:
    """`progress` of call `done` (from 0) of `count` calls of the same length, as steps of them all."""
    return lambda step, total: progress(done * total + step, count * total)


FAMILY = Family(
    name="qwen_image",
    pipelines=("QwenImagePipeline", "QwenImageImg2ImgPipeline", "QwenImageInpaintPipeline"),
    multilingual=True,
    # Fast: 8 steps are meant with the Lightning LoRA (ENGINE_FAST_LORA), which also wants guidance off.
    defaults=Defaults(quality_steps=50, quality_guidance=4.0, fast_steps=8, fast_guidance=1.0, native=1024),
    load=load,
    runners={
        Mode.GENERATE: generate.run,
        Mode.VARY: per_picture(vary.run),
        Mode.RESTYLE: per_picture(restyle.run),
        Mode.PHOTO_PROMPT: per_picture(photo_prompt.run),
        Mode.REIMAGINE: _reimagine,
        Mode.MIX: _mix,
        Mode.UPSCALE: upscale_refined(vary.img2img),
        Mode.ZOOM: per_picture(zoom.run),
        Mode.EDIT: _edit,
        Mode.INPAINT: per_picture(inpaint.run),
        Mode.REMIX: _remix,
    },
    gaps={
        Mode.REIMAGINE: "needs an edit transformer (ENGINE_EDIT_MODEL: Qwen-Image-Edit-2509), a second 20B model",
        Mode.MIX: "needs an edit transformer (ENGINE_EDIT_MODEL: Qwen-Image-Edit-2509), a second 20B model",
        Mode.EDIT: "needs an edit transformer (ENGINE_EDIT_MODEL: Qwen-Image-Edit-2509), a second 20B model",
        Mode.REMIX: "needs a Qwen-Image ControlNet (ENGINE_STRUCTURE_ADAPTER: InstantX/Qwen-Image-ControlNet-Union)",
    },
    available=_available,
)
