"""Edge maps for "remix keeping the outlines": Canny (OpenCV), the input T2I-Adapters/ControlNets expect.

OpenCV's Canny in C++ (Sobel gradients, non-maximum suppression, hysteresis along connected weak edges) after a
light Gaussian smoothing. It runs on the GPU worker thread before the adapter call: about 9 ms for a 1024² picture,
where the torch version it replaced took 150-300 times longer (bench/profile_edges.py has the figures).
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

# Thresholds on the Sobel magnitude of a 0..255 grey picture: at most ControlNet's canny example values (100, 200);
# soft photos (a cat's fur, a hazy sky) get lower ones, from the 95th percentile of their gradient, so that their
# main outlines survive.
LOW_THRESHOLD = 100.0
HIGH_THRESHOLD = 200.0
ADAPTIVE_QUANTILE = 0.95
MIN_HIGH_THRESHOLD = 40.0
SMOOTHING_SIGMA = 1.0
QUANTILE_SAMPLE = 100_000  # gradient values the adaptive threshold is taken from (every n-th pixel)


def canny(
    picture: Image.Image,
    low: float | None = None,
    high: float | None = None,
    sigma: float = SMOOTHING_SIGMA,
) -> Image.Image:
    """White 1-pixel edges on black ("L" mode), the size of `picture`; thresholds adapt unless given."""
    grey: np.ndarray = np.asarray(picture.convert("L"), dtype=np.uint8)
    if sigma > 0:
        radius = max(1, round(2 * sigma))
        grey = cv2.GaussianBlur(grey, (2 * radius + 1, 2 * radius + 1), sigma, borderType=cv2.BORDER_REPLICATE)
    # The gradients are computed once, for the adaptive threshold and for Canny itself (its dx/dy form).
    gx = cv2.Sobel(grey, cv2.CV_16S, 1, 0, ksize=3, borderType=cv2.BORDER_REPLICATE)
    gy = cv2.Sobel(grey, cv2.CV_16S, 0, 1, ksize=3, borderType=cv2.BORDER_REPLICATE)
    if high is None:
        high = _adaptive_high(gx, gy)
    if low is None:
        low = high * LOW_THRESHOLD / HIGH_THRESHOLD
    edges = cv2.Canny(gx, gy, float(low), float(high), L2gradient=True)
    return Image.fromarray(edges)


def _adaptive_high(gx: np.ndarray, gy: np.ndarray) -> float:
    step = max(1, gx.size // QUANTILE_SAMPLE)
    sample = np.hypot(gx.ravel()[::step].astype(np.float32), gy.ravel()[::step].astype(np.float32))
    return min(HIGH_THRESHOLD, max(MIN_HIGH_THRESHOLD, float(np.quantile(sample, ADAPTIVE_QUANTILE))))
