"""Aspect ratios mapped to sizes native to the loaded model (about its training area, multiples of 64)."""

from __future__ import annotations

from .api import ASPECTS, BadRequest


def parse_aspect(aspect: str) -> tuple[int, int]:
    try:
        w, h = (int(part) for part in aspect.split(":"))
    except ValueError:
        raise BadRequest(f"aspect must look like 16:9, not {aspect!r}") from None
    if w <= 0 or h <= 0 or max(w, h) / min(w, h) > 4:
        raise BadRequest(f"aspect {aspect!r} is out of range")
    return w, h


def size_for(aspect: str, native: int, multiple: int = 64) -> tuple[int, int]:
    """Width and height with about native² pixels in the given aspect, rounded to `multiple`.

    native is the model's square training size: 1024 for SDXL (~1 MP), 512 for SD1.5 (~0.25 MP).
    multiple is what the model's latent grid needs: VAE factor x 2^(UNet down-samplings).
    """
    w, h = parse_aspect(aspect)
    area = native * native
    width = (area * w / h) ** 0.5
    height = area / width
    return _round(width, multiple), _round(height, multiple)


def fit_size(width: int, height: int, native: int, multiple: int = 64) -> tuple[int, int]:
    """A size native to the model that keeps a source picture's aspect ratio (for image modes)."""
    area = native * native
    scale = (area / (width * height)) ** 0.5
    return _round(width * scale, multiple), _round(height * scale, multiple)


def _round(value: float, multiple: int) -> int:
    return max(multiple, round(value / multiple) * multiple)


__all__ = ["ASPECTS", "fit_size", "parse_aspect", "size_for"]
