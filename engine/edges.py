"""Edge maps for "remix keeping the outlines": Canny in torch (no OpenCV), the input T2I-Adapters/ControlNets expect.

Steps as in Canny's paper and OpenCV: light Gaussian smoothing, Sobel gradients, non-maximum suppression along
the gradient direction, then hysteresis (weak edges survive only when connected to strong ones).
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

# Thresholds on the Sobel magnitude of a 0..255 grey picture: at most ControlNet's canny example values (100, 200);
# soft photos (a cat's fur, a hazy sky) get lower ones, from the 95th percentile of their gradient, so that their
# main outlines survive.
LOW_THRESHOLD = 100.0
HIGH_THRESHOLD = 200.0
ADAPTIVE_QUANTILE = 0.95
MIN_HIGH_THRESHOLD = 40.0
SMOOTHING_SIGMA = 1.0
HYSTERESIS_ROUNDS = 512  # each round grows edges by one pixel; a cap keeps hostile inputs cheap


def _gaussian(sigma: float) -> torch.Tensor:
    radius = max(1, round(2 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def _conv(grey: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    pad = (kernel.shape[-1] // 2, kernel.shape[-1] // 2, kernel.shape[-2] // 2, kernel.shape[-2] // 2)
    return F.conv2d(F.pad(grey, pad, mode="replicate"), kernel[None, None])


def canny(
    picture: Image.Image,
    low: float | None = None,
    high: float | None = None,
    sigma: float = SMOOTHING_SIGMA,
) -> Image.Image:
    """White 1-pixel edges on black ("L" mode), the size of `picture`; thresholds adapt unless given."""
    grey = torch.from_numpy(np.asarray(picture.convert("L"), dtype=np.float32))[None, None]
    if sigma > 0:
        g = _gaussian(sigma)
        grey = _conv(_conv(grey, g[None, :]), g[:, None])
    sobel_x = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    gx, gy = _conv(grey, sobel_x), _conv(grey, sobel_x.T)
    magnitude = torch.hypot(gx, gy)[0, 0]
    if high is None:
        sample = magnitude.flatten()[:: max(1, magnitude.numel() // 100_000)]
        high = min(HIGH_THRESHOLD, max(MIN_HIGH_THRESHOLD, float(torch.quantile(sample, ADAPTIVE_QUANTILE))))
    if low is None:
        low = high * LOW_THRESHOLD / HIGH_THRESHOLD
    thin = _non_maximum_suppression(magnitude, gx[0, 0], gy[0, 0])
    edges = _hysteresis(thin >= high, thin >= low)
    return Image.fromarray(edges.to(torch.uint8).mul_(255).numpy(), mode="L")


def _non_maximum_suppression(magnitude: torch.Tensor, gx: torch.Tensor, gy: torch.Tensor) -> torch.Tensor:
    """Keep a pixel only where it is the maximum along its gradient direction (quantised to 4 directions)."""
    padded = F.pad(magnitude[None, None], (1, 1, 1, 1))[0, 0]
    h, w = magnitude.shape

    def shifted(dy: int, dx: int) -> torch.Tensor:
        return padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]

    angle = torch.rad2deg(torch.atan2(gy, gx)) % 180
    sector = torch.bucketize(angle, torch.tensor([22.5, 67.5, 112.5, 157.5])) % 4  # 0: -, 1: \, 2: |, 3: /
    neighbours = {0: ((0, 1), (0, -1)), 1: ((1, 1), (-1, -1)), 2: ((1, 0), (-1, 0)), 3: ((1, -1), (-1, 1))}
    keep = torch.zeros_like(magnitude, dtype=torch.bool)
    for index, (a, b) in neighbours.items():
        is_max = (magnitude >= shifted(*a)) & (magnitude > shifted(*b))
        keep |= (sector == index) & is_max
    return torch.where(keep, magnitude, torch.zeros_like(magnitude))


def _hysteresis(strong: torch.Tensor, weak: torch.Tensor) -> torch.Tensor:
    edges, allowed = strong.float()[None, None], weak.float()[None, None]
    count = edges.sum()
    for _ in range(HYSTERESIS_ROUNDS):
        edges = F.max_pool2d(edges, 3, stride=1, padding=1).mul_(allowed)  # grow by one pixel along weak edges
        grown = edges.sum()
        if grown == count:
            break
        count = grown
    return edges[0, 0] > 0
