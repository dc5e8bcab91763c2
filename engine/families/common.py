"""What the transformer families share: loading a sibling pipeline on the same weights, the 4K path without a
UNet refinement pass, and the plain white mask that turns an inpainting pipeline into img2img."""

from __future__ import annotations

from typing import Any

import torch
from PIL import Image

from ..modes import upscale as sd_upscale


def sibling(cls: Any, t2i: Any, **components: Any) -> Any:
    """`cls` over t2i's modules: concrete from_pipe upcasts them to fp32 unless given dtype (issue 12754)."""
    pipe = cls.from_pipe(t2i, dtype=t2i.dtype, **components)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def full_mask(size: tuple[int, int]) -> Image.Image:
    """Repaint everything: an inpainting call with this mask is img2img at the call's strength."""
    return Image.new("L", size, 255)


def native_of(settings: Any, default: int) -> int:
    return settings.native_size or default


def upscale_gan(studio: Any, plans: list, hooks: Any) -> list[list[Image.Image]]:
    """4K by the GAN (or Lanczos) alone, in tiles: these families' tiled refinement is not built yet (README)."""
    results = []
    for plan in plans:
        settings, models = studio.settings, studio.models
        source = plan.sources[0]
        target = sd_upscale.target_size(source.width, source.height, settings.upscale_long_side)
        tile = settings.upscale_tile // (2 if hooks.low_memory else 1)
        progress = sd_upscale.Progress(hooks, len(sd_upscale._gan_windows(models.upscaler, source.size, target, tile)))
        picture = sd_upscale.enlarge(models.upscaler, source, target, tile, hooks.interrupted, progress.stage())
        results.append([] if picture is None else [picture])
    return results


def to_device(pipe: Any, device: torch.device) -> Any:
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe
