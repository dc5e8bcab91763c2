"""Tiles: run a model window by window over a big picture (or latent) and blend the results without seams.

The 4K upscale runs its GAN, its VAE encode/decode and its diffusion refinement through `map_tiles`, so what a
model sees at once is one batch of windows, never the whole picture. Windows overlap; each result is weighted
by a ramp that fades towards its neighbours, and every output pixel is the weighted mean of the windows that
cover it (weights are normalised, so an identity model gives back exactly its input, overlaps included).
Finished rows are handed out band by band, so the blending buffers hold about one row of windows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class Window:
    y: int
    x: int
    h: int
    w: int

    def scaled(self, factor: float) -> Window:
        return Window(round(self.y * factor), round(self.x * factor), round(self.h * factor), round(self.w * factor))

    def of(self, tensor: Tensor) -> Tensor:
        """This window's part of a [..., H, W] tensor."""
        return tensor[..., self.y : self.y + self.h, self.x : self.x + self.w]


def spans(length: int, tile: int, overlap: int, align: int = 1) -> tuple[int, list[int]]:
    """(size, starts) of the fewest windows of at most `tile` covering 0..length, overlapping by about `overlap`.

    Windows are shrunk to what that count needs (less wasted overlap) and spread evenly; sizes and starts are
    multiples of `align` (length and tile must be too).
    """
    if length <= tile:
        return length, [0]
    count = math.ceil((length - overlap) / max(align, tile - overlap))
    size = min(tile, math.ceil((length + (count - 1) * overlap) / count / align) * align)
    return size, [round(i * (length - size) / (count - 1) / align) * align for i in range(count)]


def grid(height: int, width: int, tile: int, overlap: int, align: int = 1) -> list[Window]:
    """Windows covering a height x width area, row by row (row-major order matters to `map_tiles`)."""
    th, ys = spans(height, tile, overlap, align)
    tw, xs = spans(width, tile, overlap, align)
    return [Window(y, x, th, tw) for y in ys for x in xs]


def ramp(size: int, fade: int, before: bool, after: bool) -> Tensor:
    """1 inside, rising from near 0 over `fade` positions on a side that has a neighbour; never 0."""
    weight = torch.ones(size)
    fade = min(fade, size // 2)
    if fade > 0:
        rise = torch.arange(1, fade + 1, dtype=torch.float32) / (fade + 1)
        if before:
            weight[:fade] = rise
        if after:
            weight[size - fade :] = rise.flip(0)
    return weight


def weights(window: Window, height: int, width: int, fade: int) -> Tensor:
    """[1, h, w] blending weight of a window in a height x width area."""
    wy = ramp(window.h, fade, window.y > 0, window.y + window.h < height)
    wx = ramp(window.w, fade, window.x > 0, window.x + window.w < width)
    return (wy[:, None] * wx[None, :])[None]


class Blender:
    """Weighted sum of overlapping window results; `take(upto)` returns finished rows normalised and drops them.

    Only the rows from the first unfinished one to the lowest window added so far are held in memory.
    """

    def __init__(self, channels: int, height: int, width: int, fade: int, device: torch.device | str = "cpu"):
        self.channels, self.height, self.width, self.fade = channels, height, width, fade
        self.device = torch.device(device)
        self.top = 0  # first row still held
        self.sum = torch.zeros(channels, 0, width, device=self.device)
        self.weight = torch.zeros(1, 0, width, device=self.device)

    def add(self, window: Window, value: Tensor) -> None:
        if window.y < self.top:
            raise ValueError("a window above rows already taken")
        held = window.y + window.h - self.top
        if held > self.sum.shape[1]:
            grow = held - self.sum.shape[1]
            self.sum = torch.cat([self.sum, self.sum.new_zeros(self.channels, grow, self.width)], 1)
            self.weight = torch.cat([self.weight, self.weight.new_zeros(1, grow, self.width)], 1)
        weight = weights(window, self.height, self.width, self.fade).to(self.device)
        rows = slice(window.y - self.top, window.y - self.top + window.h)
        cols = slice(window.x, window.x + window.w)
        self.sum[:, rows, cols] += value.to(self.device, torch.float32) * weight
        self.weight[:, rows, cols] += weight

    def take(self, upto: int) -> Tensor:
        """Rows top..upto as [C, rows, W], normalised; call only once no later window reaches them."""
        count = upto - self.top
        out = self.sum[:, :count] / self.weight[:, :count]
        self.sum, self.weight = self.sum[:, count:].clone(), self.weight[:, count:].clone()
        self.top = upto
        return out


def _batches(windows: list[Window], size: int) -> Iterator[tuple[int, list[Window]]]:
    for start in range(0, len(windows), size):
        yield start, windows[start : start + size]


def map_tiles(
    windows: list[Window],
    read: Callable[[Window], Tensor],
    model: Callable[[Tensor, list[Window]], Tensor],
    emit: Callable[[int, Tensor], None],
    *,
    channels: int,
    height: int,
    width: int,
    fade: int,
    batch: int = 1,
    device: torch.device | str = "cpu",
    stop: Callable[[], bool] = lambda: False,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> bool:
    """Blend `model` over `windows` (output coordinates, row-major, from `grid`) of a channels x height x width output.

    read(window) -> the [1, C_in, ...] input for that output window; model(batch, windows) -> [n, channels, h, w];
    emit(y, rows) receives finished output rows [channels, n, width] in order, top to bottom.
    Returns False when `stop()` cut the work short (what was emitted is then incomplete).
    """
    blender = Blender(channels, height, width, fade, device)
    for start, chunk in _batches(windows, batch):
        if stop():
            return False
        values = model(torch.cat([read(window) for window in chunk]), chunk)
        for window, value in zip(chunk, values, strict=True):
            blender.add(window, value)
        done = start + len(chunk)
        progress(done, len(windows))
        # No window after the next one starts above its top row, so the rows above it are final.
        finished = windows[done].y if done < len(windows) else height
        if finished > blender.top:
            emit(blender.top, blender.take(finished))
    return True
