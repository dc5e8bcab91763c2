"""Reading what a picture shows, for the tests on the trained tiny-shapes kit: the colour of each pixel (nearest
colour of the kit's vocabulary), the background (the border), the subject (the centre) and SSIM."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from engine.training.shapes import COLOURS

NAMES = list(COLOURS)
PALETTE = np.array([COLOURS[name] for name in NAMES], dtype=float)
BORDER = 1 / 16  # of the side: the band read as background (the shapes leave 1/12 free)
CENTRE = 3 / 16  # half-side of the square read as the subject (every shape covers it)


def picture(data: bytes | Image.Image) -> Image.Image:
    return data if isinstance(data, Image.Image) else Image.open(io.BytesIO(data)).convert("RGB")


def labels(image: Image.Image) -> np.ndarray:
    """Each pixel's nearest vocabulary colour, as an index into NAMES."""
    rgb = np.asarray(image.convert("RGB"), dtype=float)
    return ((rgb[..., None, :] - PALETTE) ** 2).sum(-1).argmin(-1)


def border(image: Image.Image) -> np.ndarray:
    lab = labels(image)
    k = max(1, round(min(lab.shape) * BORDER))
    return np.concatenate([lab[:k].ravel(), lab[-k:].ravel(), lab[k:-k, :k].ravel(), lab[k:-k, -k:].ravel()])


def centre(image: Image.Image) -> np.ndarray:
    lab = labels(image)
    h, w = lab.shape
    dy, dx = round(h * CENTRE), round(w * CENTRE)
    return lab[h // 2 - dy : h // 2 + dy, w // 2 - dx : w // 2 + dx].ravel()


def share(pixels: np.ndarray, colour: str) -> float:
    """The fraction of `pixels` (labels) that are `colour`."""
    return float((pixels == NAMES.index(colour)).mean())


def background_share(image: Image.Image, colour: str) -> float:
    return share(border(image), colour)


def subject_share(image: Image.Image, colour: str) -> float:
    return share(centre(image), colour)


def ssim(a: Image.Image, b: Image.Image, window: int = 7) -> float:
    """Mean structural similarity (Wang et al. 2004) of the two pictures' luminance, uniform 7x7 windows."""
    x, y = (np.asarray(p.convert("L"), dtype=float) for p in (a, b))
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def mean(z: np.ndarray) -> np.ndarray:
        return np.lib.stride_tricks.sliding_window_view(z, (window, window)).mean(axis=(-1, -2))

    mx, my = mean(x), mean(y)
    vx, vy, cov = mean(x * x) - mx * mx, mean(y * y) - my * my, mean(x * y) - mx * my
    score = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(score.mean())


def params(png: bytes) -> dict:
    """The generation parameters the engine embeds in its PNGs."""
    import json

    return json.loads(Image.open(io.BytesIO(png)).info["easel"])
