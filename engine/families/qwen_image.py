"""Qwen-Image (Apache-2.0): text to image, img2img, inpainting on one 20B transformer; Qwen2.5-VL reads Russian.

- generate: `QwenImagePipeline`, batched across users (a picture equals its single run).
- vary subtle / strong, restyle of a photo, photo + text: `QwenImageImg2ImgPipeline` at 0.5 / 0.85 / 0.6 / 0.7.
- zoom out: `QwenImageInpaintPipeline` paints the new border (engine/modes/zoom.py).
- 4K: the GAN (or Lanczos), then native-size tiles refined by img2img at 0.3 and blended (families/common.py).
Guidance is true CFG: a negative prompt and `true_cfg_scale` (the pipeline ignores `guidance_scale`).
img2img and inpaint draw the VAE's sample with the first generator only: a batched picture would differ from its
own single run, so those modes run one call per picture (the seed under a picture always makes it again).
Not offered yet: reimagine and mix need Qwen-Image-Edit(-Plus), a second 20B transformer; remix needs a
Qwen-Image ControlNet (README, "Model families").
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
from PIL import Image

from ..api import Mode
from ..modes import generate, photo_prompt, restyle, vary, zoom
from . import Defaults, Family
from .common import native_of, sibling, upscale_refined

MULTIPLE = 16  # VAE x8, then 2x2 patches


def load(settings: Any, styles: dict, model: str, device: torch.device, dtype: torch.dtype) -> Any:
    from diffusers import QwenImageImg2ImgPipeline, QwenImageInpaintPipeline, QwenImagePipeline

    from ..models import Models, load_lora_adapters

    t2i = QwenImagePipeline.from_pretrained(model, dtype=dtype)
    t2i.set_progress_bar_config(disable=True)
    loras, fast_adapter = load_lora_adapters(t2i, settings, styles)
    t2i.to(device)
    return Models(
        name=settings.model,
        family=FAMILY.name,
        device=device,
        dtype=dtype,
        native=native_of(settings, FAMILY.defaults.native),
        multiple=MULTIPLE,
        text2img=t2i,
        img2img=sibling(QwenImageImg2ImgPipeline, t2i),
        inpaint=sibling(QwenImageInpaintPipeline, t2i),
        scheduler_config=dict(t2i.scheduler.config),
        loras=loras,
        fast_adapter=fast_adapter,
        call_defaults={"max_sequence_length": settings.text_tokens} if settings.text_tokens else {},
    )


def per_picture(runner):
    """The runner called once per picture (its own seed alone), the pictures gathered per plan."""

    def run(studio, plans, hooks) -> list[list[Image.Image]]:
        results = []
        for plan in plans:
            pictures: list[Image.Image] = []
            for seed in plan.seeds:
                single = replace(plan, seeds=[seed])
                pictures += runner(studio, [single], hooks)[0]
                if hooks.interrupted():
                    break
            results.append(pictures)
        return results

    return run


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
        Mode.UPSCALE: upscale_refined(vary.img2img),
        Mode.ZOOM: per_picture(zoom.run),
    },
    gaps={
        Mode.REIMAGINE: "needs Qwen-Image-Edit(-Plus): a second 20B transformer, not loaded beside Qwen-Image",
        Mode.MIX: "needs Qwen-Image-Edit-Plus (several pictures): a second 20B transformer",
        Mode.REMIX: "needs a Qwen-Image ControlNet (canny); not wired yet",
    },
)
