"""What the transformer families share: loading the text-to-image pipeline and its styles' adapters, a sibling
pipeline on the same weights, the 4K path (GAN, then tiles refined by the family's img2img), and the plain white
mask that turns an inpainting pipeline into img2img."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, NamedTuple

import numpy as np
import torch
from PIL import Image

from ..modes import upscale as sd_upscale
from ..modes.refine import to_uint8
from ..tiles import grid, map_tiles


def sibling(cls: Any, t2i: Any, **components: Any) -> Any:
    """`cls` over t2i's modules: concrete from_pipe upcasts them to fp32 unless given dtype (issue 12754)."""
    pipe = cls.from_pipe(t2i, dtype=t2i.dtype, **components)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def full_mask(size: tuple[int, int]) -> Image.Image:
    """Repaint everything: an inpainting call with this mask is img2img at the call's strength."""
    return Image.new("L", size, 255)


class Base(NamedTuple):
    """A family's text-to-image pipeline on the device, with the styles' LoRA adapters loaded into it."""

    t2i: Any
    loras: dict
    fast_adapter: str
    device: torch.device
    dtype: torch.dtype


def load_base(
    pipeline_class: Any, model: str, settings: Any, styles: dict, device: torch.device, dtype: torch.dtype
) -> Base:
    from ..models import load_lora_adapters

    t2i = pipeline_class.from_pretrained(model, dtype=dtype)
    t2i.set_progress_bar_config(disable=True)
    loras, fast_adapter = load_lora_adapters(t2i, settings, styles)
    t2i.to(device)
    return Base(t2i, loras, fast_adapter, device, dtype)


def family_models(family: Any, base: Base, settings: Any, multiple: int, **pipelines: Any) -> Any:
    """The engine's Models of a transformer `family` over `base`; `pipelines`: img2img, inpaint (None where the
    family has none) and pipes (its other pipelines by name)."""
    from ..models import Models

    t2i = base.t2i
    return Models(
        name=settings.model,
        family=family.name,
        device=base.device,
        dtype=base.dtype,
        native=settings.native_size or family.defaults.native,
        multiple=multiple,
        text2img=t2i,
        img2img=pipelines.pop("img2img", None),
        inpaint=pipelines.pop("inpaint", None),
        scheduler_config=dict(t2i.scheduler.config),
        loras=base.loras,
        fast_adapter=base.fast_adapter,
        call_defaults={"max_sequence_length": settings.text_tokens} if settings.text_tokens else {},
        **pipelines,
    )


def upscale_gan(studio: Any, plans: list, hooks: Any) -> list[list[Image.Image]]:
    """4K by the GAN (or Lanczos) alone, in tiles (Kandinsky 5: its I2I has no strength to refine with)."""
    return [upscale_with(studio, plan, hooks, None) for plan in plans]


def upscale_refined(img2img: Callable) -> Callable:
    """4K by the GAN, then each native-size tile refined by the family's img2img (engine/modes/upscale.py's
    refine_strength), then kept consistent with the source (keep_source)."""

    def run(studio: Any, plans: list, hooks: Any) -> list[list[Image.Image]]:
        return [upscale_with(studio, plan, hooks, img2img) for plan in plans]

    return run


def upscale_with(studio: Any, plan: Any, hooks: Any, img2img: Callable | None) -> list[Image.Image]:
    """[the picture at long side settings.upscale_long_side], or [] when cancelled.

    The GAN enlarges (engine/modes/upscale.py); then, given `img2img`, overlapping tiles of the family's native
    size are each redrawn at low strength with the picture's prompt and seed, and blended with faded edges
    (engine/tiles.py). Unlike the SD families' pass (one scheduler step over all windows at once), tiles are
    refined one after another: low strength keeps neighbours close, the fades hide what differs. A model smaller
    than the target refines a reduced copy and its added detail is laid onto the GAN's picture, as for SD."""
    settings, models = studio.settings, studio.models
    source = plan.sources[0]
    target = sd_upscale.target_size(source.width, source.height, settings.upscale_long_side)
    tile = settings.upscale_tile // (2 if hooks.low_memory else 1)
    work = sd_upscale.refine_size(*target, models.native, models.multiple)
    side = max(models.multiple, min(models.native, tile) // models.multiple * models.multiple)
    windows = grid(work[1], work[0], side, side // 4, align=models.multiple) if img2img else []
    gan = sd_upscale._gan_windows(models.upscaler, source.size, target, tile)
    progress = sd_upscale.Progress(hooks, len(gan) + len(windows))
    base = sd_upscale.enlarge(models.upscaler, source, target, tile, hooks.interrupted, progress.stage())
    if base is None or img2img is None:
        return [] if base is None else [base]
    small = base if work == target else base.resize(work, Image.Resampling.LANCZOS)
    refined = _refine_tiles(studio, plan, hooks, img2img, small, windows, progress.stage())
    if refined is None:
        return []
    if work == target:
        return [sd_upscale.keep_source(refined, source)]
    return [sd_upscale.keep_source(sd_upscale.transfer_detail(base, small, refined), source)]


def _refine_tiles(studio, plan, hooks, img2img, picture: Image.Image, windows, progress) -> Image.Image | None:
    pixels = torch.from_numpy(np.array(picture)).permute(2, 0, 1)  # uint8 [3, H, W]
    out = np.empty((picture.height, picture.width, 3), np.uint8)
    across = max(picture.size) / max(windows[0].h, windows[0].w)  # the windows are the family's native size
    strength = sd_upscale.refine_strength(across, plan.request.strength)
    quiet = type(hooks)(interrupted=hooks.interrupted)  # progress counts tiles, not their steps

    def model(batch: torch.Tensor, chunk: list) -> torch.Tensor:
        window = chunk[0]
        tile = Image.fromarray(to_uint8(batch[0], 0.0, 1.0))
        one = replace(plan, width=window.w, height=window.h, seeds=plan.seeds[:1])
        drawn = img2img(studio, one, quiet, tile, strength)
        if not drawn:  # cancelled inside the call: map_tiles stops at the next window
            return batch
        return torch.from_numpy(np.array(drawn[0].resize(tile.size))).permute(2, 0, 1)[None].float().div(255)

    def emit(y: int, rows: torch.Tensor) -> None:
        out[y : y + rows.shape[1]] = to_uint8(rows, 0.0, 1.0)

    done = map_tiles(
        windows,
        lambda window: window.of(pixels)[None].float().div(255),
        model,
        emit,
        channels=3,
        height=picture.height,
        width=picture.width,
        fade=max(1, windows[0].h // 8),
        stop=hooks.interrupted,
        progress=progress,
    )
    return Image.fromarray(out) if done else None
