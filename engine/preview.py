"""A cheap preview of a picture while it is being drawn: its latent mapped linearly to RGB, never the VAE.

Decoding a latent with the VAE costs about as much as a denoising step or two; a fixed linear map of the latent
channels to RGB costs microseconds and shows the layout and colours forming, which is what a preview is for.
For 4-channel latents (the SD 1.x / SDXL VAE family) the map is the well-known least-squares fit of latent
channels to RGB (the factors ComfyUI and A1111 use); for any other latent (16, 32, 128 channels) the first three
principal components of its channels stand in, so every model family gets a preview without a table of its own;
packed tokens (FLUX, Qwen-Image) are laid out on their grid first, from the picture's aspect.
"""

from __future__ import annotations

import io
import time

import torch
from PIL import Image

PREVIEW_SIDE = 256  # px: the long side of a preview, enough for a chat status photo
PREVIEW_EVERY_S = 1.0  # at most one preview a second per running call (the bot paces its edits further)
# Rows: latent channels 0..3; columns: R, G, B.
SD_LATENT_RGB = torch.tensor(
    [
        [0.3512, 0.2297, 0.3227],
        [0.3250, 0.4974, 0.2350],
        [-0.2829, 0.1762, 0.2721],
        [-0.2120, -0.2616, -0.7177],
    ]
)


def latent_rgb(latent: torch.Tensor) -> torch.Tensor | None:
    """(3, H, W) in 0..1 from one picture's latent (C, H, W); None for a latent of another shape (packed tokens)."""
    if latent.ndim != 3 or latent.shape[0] < 3:
        return None
    latent = latent.detach().float().cpu()
    channels = latent.shape[0]
    if channels == 4:
        rgb = torch.einsum("chw,cr->rhw", latent, SD_LATENT_RGB)
    else:
        flat = latent.reshape(channels, -1)
        flat = flat - flat.mean(dim=1, keepdim=True)
        _, vectors = torch.linalg.eigh(flat @ flat.T)  # ascending: the last three are the main components
        rgb = (vectors[:, -3:].flip(1).T @ flat).reshape(3, *latent.shape[1:])
    # The 1st and 99th percentiles of each colour (a stray extreme value would wash the rest out), read from a
    # strided sample: a full sort of a 1024 px picture's latent would cost more than the map itself.
    sample = rgb.reshape(3, -1)[:, :: max(1, rgb[0].numel() // 4096)]
    low = torch.quantile(sample, 0.01, dim=1).view(3, 1, 1)
    high = torch.quantile(sample, 0.99, dim=1).view(3, 1, 1)
    return ((rgb - low) / (high - low).clamp_min(1e-6)).clamp(0, 1)


def spatial(latent: torch.Tensor, aspect: float) -> torch.Tensor | None:
    """One picture's latent as (C, H, W). Transformer families (FLUX, Qwen-Image) hand over packed tokens (N, C):
    a grid of N patches of the picture's `aspect` (width / height), unpacked here without knowing the family."""
    if latent.ndim == 3:
        return latent
    if latent.ndim != 2 or aspect <= 0:
        return None
    tokens, channels = latent.shape
    rows = max(1, round((tokens / aspect) ** 0.5))
    if rows * (tokens // rows) != tokens:
        return None
    return latent.T.reshape(channels, rows, tokens // rows)


def latent_preview(latent: torch.Tensor, aspect: float = 1.0) -> bytes | None:
    """A small JPEG of one picture's latent, (C, H, W) or packed tokens (N, C) of a picture of `aspect` (width /
    height); None when it has no spatial shape to show."""
    grid = spatial(latent, aspect)
    rgb = latent_rgb(grid) if grid is not None else None
    if rgb is None:
        return None
    pixels = (rgb.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    image = Image.fromarray(pixels, "RGB")
    scale = PREVIEW_SIDE / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    image = image.resize(size, Image.Resampling.BILINEAR)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=70)
    return out.getvalue()


class PreviewClock:
    """When a running call's next preview is due: from its second step (the first is noise), never at the last
    (the finished picture comes a moment later), at most every PREVIEW_EVERY_S."""

    def __init__(self, every_s: float = PREVIEW_EVERY_S) -> None:
        self.every_s = every_s
        self._last = 0.0

    def due(self, step: int, total: int) -> bool:
        now = time.monotonic()
        if step < 2 or step >= total or now - self._last < self.every_s:
            return False
        self._last = now
        return True
