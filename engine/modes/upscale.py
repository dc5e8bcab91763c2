"""Upscale to 4K: a GAN (or Lanczos) to the target size, then a tiled diffusion pass at low strength adding detail.

1. Enlarge: the configured ESRGAN-family model (engine/esrgan.py) once, over tiles, then Lanczos to the exact
   target (long side settings.upscale_long_side); with no upscaler, Lanczos alone.
2. Refine (modes/refine.py, MultiDiffusion over latent windows, VAE in tiles) at REFINE_STRENGTH, less where the
   windows are much smaller than the picture (`refine_strength`). The pass works at most at REFINE_MAX_FACTOR x the
   model's native size: SDXL (1024) and SD1.5 (512) refine a 4K picture at full size; a smaller model (the tiny kit:
   128 px -> 1024) refines a reduced copy, and the detail it added (refined minus the copy) is enlarged and laid
   onto the GAN's picture.
3. Keep the source (`keep_source`): the picture scaled down to the source's size is the source again.

Memory is bounded by the tile size (settings.upscale_tile), not the picture's: every model call sees at most
upscale_tile^2 output pixels (a GAN tile, a VAE tile, a batch of UNet windows; guidance doubles the UNet's batch as
in every pipeline), the blending buffers hold about one row of tiles, and the only buffers as big as the picture
are the picture itself (8-bit, a few copies of 3-4 bytes a pixel) and its latent (1/64 of the pixels).
Stated bound, checked by tests/engine/test_upscale.py with the tiny kit on CPU: during a 4096 x 4096 upscale the
peak resident memory grows by at most 24 bytes x output pixels + 400 bytes x upscale_tile^2 (784 MiB at the
defaults); measured 440-520 MiB from 512 and from 1024 px sources. (The per-tile term depends on the model's
widths: a real SDXL VAE needs more per tile pixel, on the GPU; it still does not grow with the picture.)
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from PIL import Image, ImageChops

from ..tiles import Window, grid, map_tiles
from .refine import Refiner, to_uint8

REFINE_STRENGTH = 0.3  # Fooocus refines its 1.5x / 2x upscales at 0.382; lower keeps more of the picture
# Windows across the picture up to which REFINE_STRENGTH applies: a window then holds a quarter of the picture or
# more, as in the 2x upscales of Fooocus and Ultimate SD Upscale. Every window is drawn with the whole picture's
# prompt, so where a window holds only a small part of the picture the model paints the prompt's subject into each
# one (tiny-shapes at 0.3, 8 x 8 windows over 512 px: a new circle in every window). Beyond, the strength falls
# with the share of the picture a window holds: SDXL's 4K (4 windows across) refines at 0.075, SD1.5's (8 across)
# at 0.02, a touch; Fooocus stops diffusion altogether above 2800 px (2.7 x SDXL's native size).
FULL_STRENGTH_ACROSS = 2.0
REFINE_MAX_FACTOR = 8
BACK_PROJECTIONS = 2  # about 1 s of CPU each at 4K
GAN_OVERLAP_PX = 16  # input pixels shared by neighbouring GAN tiles
LANCZOS = Image.Resampling.LANCZOS


def run(studio, plans, hooks) -> list[list[Image.Image]]:
    return [upscale(studio, plan, hooks) for plan in plans]


def target_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    scale = long_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def refine_strength(across: float, asked: float | None = None) -> float:
    """The refinement's strength with windows `across` times smaller than the picture (its long side); a request's
    own strength (`asked`) is kept."""
    if asked:
        return asked
    return REFINE_STRENGTH * min(1.0, (FULL_STRENGTH_ACROSS / across) ** 2)


def refine_size(width: int, height: int, native: int, multiple: int) -> tuple[int, int]:
    """The size the diffusion pass works at: the target, or a copy capped at REFINE_MAX_FACTOR x native."""
    scale = min(1.0, REFINE_MAX_FACTOR * native / max(width, height))
    return (
        max(multiple, round(width * scale / multiple) * multiple),
        max(multiple, round(height * scale / multiple) * multiple),
    )


class Progress:
    """One progress bar over all stages (GAN tiles, VAE tiles, UNet batches x steps)."""

    def __init__(self, hooks, total: int) -> None:
        self.hooks, self.total, self.done = hooks, max(1, total), 0

    def stage(self) -> Callable[[int, int], None]:
        start = self.done

        def report(done: int, total: int) -> None:
            self.done = start + done
            self.hooks.progress(min(self.done, self.total), self.total)

        return report


def upscale(studio, plan, hooks) -> list[Image.Image]:
    """[the picture at long side settings.upscale_long_side], or [] when the job was cancelled."""
    settings, models = studio.settings, studio.models
    source = plan.sources[0]
    width, height = source.size
    target = target_size(width, height, settings.upscale_long_side)
    tile = settings.upscale_tile // (2 if hooks.low_memory else 1)  # the retry after running out of memory
    work = refine_size(*target, models.native, models.multiple)
    strength = refine_strength(max(work) / min(tile, models.native), plan.request.strength)
    refiner = Refiner(studio, plan, hooks, work, tile, strength)
    gan_tiles = len(_gan_windows(models.upscaler, source.size, target, tile))
    progress = Progress(hooks, gan_tiles + refiner.units)
    base = enlarge(models.upscaler, source, target, tile, hooks.interrupted, progress.stage())
    if base is None:
        return []
    small = base if work == target else base.resize(work, LANCZOS)
    refined = refiner.refine(small, progress.stage)
    if refined is None:
        return []
    if work == target:
        return [keep_source(refined, source)]
    if work[0] >= 0.9 * target[0]:  # refined at (nearly) full size: only round the size
        return [keep_source(refined.resize(target, LANCZOS), source)]
    return [keep_source(transfer_detail(base, small, refined), source)]


def keep_source(picture: Image.Image, source: Image.Image) -> Image.Image:
    """`picture` made consistent with the `source` it enlarges: iterative back-projection (Irani and Peleg 1991; the
    data consistency of diffusion super-resolution, as in ILVR): the difference between the source and the picture
    scaled down to its size is enlarged and added, BACK_PROJECTIONS times. What the refinement (or the VAE's round
    trip) changed at the source's own scale, a colour or a shape, is undone; what it added finer than the source's
    pixels stays. Each pass leaves about a fifth of the difference on a photo (Lanczos both ways)."""
    if source.width >= picture.width or source.height >= picture.height:
        return picture  # nothing finer than the source to keep apart
    for _ in range(BACK_PROJECTIONS):
        small = picture.resize(source.size, LANCZOS)
        # Both signs as 8-bit pictures of their own: one offset picture would clip differences beyond +-128
        lighter = ImageChops.subtract(source, small).resize(picture.size, LANCZOS)
        darker = ImageChops.subtract(small, source).resize(picture.size, LANCZOS)
        picture = ImageChops.subtract(ImageChops.add(picture, lighter), darker)
    return picture


def transfer_detail(base: Image.Image, before: Image.Image, after: Image.Image) -> Image.Image:
    """`base` plus what the refinement changed (after - before), enlarged to base's size; 8-bit throughout."""
    detail = ImageChops.subtract(after, before, 1.0, 128).resize(base.size, LANCZOS)
    return ImageChops.add(base, detail, 1.0, -128)


def _gan_input_size(upscaler, source: tuple[int, int], target: tuple[int, int]) -> tuple[int, int]:
    """The GAN sees the picture at most at target / scale (a bigger photo is reduced first)."""
    limit = math.ceil(max(target) / upscaler.scale)
    return source if max(source) <= limit else target_size(*source, limit)


def _gan_windows(upscaler, source: tuple[int, int], target: tuple[int, int], tile: int) -> list[Window]:
    """Output windows of the GAN pass (at most `tile` output pixels a side); [] without a GAN."""
    if upscaler is None:
        return []
    s = upscaler.scale
    width, height = _gan_input_size(upscaler, source, target)
    tile_in = max(4, tile // s)
    return grid(height * s, width * s, tile_in * s, _gan_overlap(tile_in) * s, align=s)


def _gan_overlap(tile_in: int) -> int:
    """Input pixels shared by neighbouring GAN tiles (blended over in the output)."""
    return min(GAN_OVERLAP_PX, tile_in // 4)


def enlarge(
    upscaler,
    source: Image.Image,
    target: tuple[int, int],
    tile: int,
    stop: Callable[[], bool],
    progress: Callable[[int, int], None],
) -> Image.Image | None:
    """The source at the target size: GAN tiles blended (then Lanczos to the exact size), or Lanczos alone."""
    if upscaler is None:
        return source.resize(target, LANCZOS)
    size = _gan_input_size(upscaler, source.size, target)
    picture = source if size == source.size else source.resize(size, LANCZOS)
    s = upscaler.scale
    windows = _gan_windows(upscaler, source.size, target, tile)
    pixels = torch.from_numpy(np.array(picture)).permute(2, 0, 1)  # uint8 [3, h, w]
    height, width = picture.height * s, picture.width * s
    out = np.empty((height, width, 3), np.uint8)

    def read(window: Window) -> torch.Tensor:
        return window.scaled(1 / s).of(pixels)[None].float().div_(255)

    def model(batch: torch.Tensor, _: list[Window]) -> torch.Tensor:
        return upscaler(batch.contiguous(memory_format=torch.channels_last))

    def emit(y: int, rows: torch.Tensor) -> None:
        out[y : y + rows.shape[1]] = to_uint8(rows, 0.0, 1.0)

    done = map_tiles(
        windows,
        read,
        model,
        emit,
        channels=3,
        height=height,
        width=width,
        fade=_gan_overlap(max(4, tile // s)) * s,
        stop=stop,
        progress=progress,
    )
    if not done:
        return None
    enlarged = Image.fromarray(out)
    return enlarged if enlarged.size == target else enlarged.resize(target, LANCZOS)
