"""The live preview: a latent shown as a small picture by a linear map (no VAE), for any model family, a few
times a call; and the engine hands it to a job that asked for it, on the tiny model."""

from __future__ import annotations

import io

import pytest
import torch
from PIL import Image

from engine.preview import PREVIEW_SIDE, PreviewClock, latent_preview, latent_rgb


def test_a_four_channel_latent_shows_its_layout():
    latent = torch.zeros(4, 16, 24)
    latent[0, :, :12] = 2.0  # channel 0 leans to red: the left half should be warmer than the right
    rgb = latent_rgb(latent)
    assert rgb is not None and rgb.shape == (3, 16, 24) and 0 <= rgb.min() and rgb.max() <= 1
    assert rgb[0, :, :12].mean() > rgb[0, :, 12:].mean()
    image = Image.open(io.BytesIO(latent_preview(latent) or b""))
    assert image.format == "JPEG" and max(image.size) == PREVIEW_SIDE and image.width > image.height


@pytest.mark.parametrize("channels", [16, 32, 128])
def test_other_families_latents_get_a_preview_too(channels: int):
    generator = torch.Generator().manual_seed(0)
    latent = torch.randn(channels, 8, 8, generator=generator)
    latent[:, :4] += torch.randn(channels, 1, 1, generator=generator) * 3  # a top half unlike the bottom
    rgb = latent_rgb(latent)
    assert rgb is not None and rgb.shape == (3, 8, 8)
    assert (rgb[:, :4].mean((1, 2)) - rgb[:, 4:].mean((1, 2))).abs().max() > 0.2, "the halves differ in colour"


def test_packed_tokens_are_laid_out_on_the_pictures_grid():
    # A FLUX-like 16:9 picture: 36 × 64 patches of 128 channels, the left half unlike the right.
    grid = torch.randn(128, 36, 64, generator=torch.Generator().manual_seed(1))
    grid[:, :, :32] += torch.randn(128, 1, 1, generator=torch.Generator().manual_seed(2)) * 3
    tokens = grid.reshape(128, -1).T  # (N, C), row by row, as transformer pipelines pack them
    image = Image.open(io.BytesIO(latent_preview(tokens, aspect=16 / 9) or b"")).convert("RGB")
    assert image.width > image.height
    left, right = image.getpixel((image.width // 4, image.height // 2)), image.getpixel((3 * image.width // 4, 10))
    assert max(abs(a - b) for a, b in zip(left, right, strict=True)) > 40, "the halves are told apart"


def test_tokens_that_make_no_grid_of_that_aspect_have_no_preview():
    assert latent_preview(torch.zeros(257, 64), aspect=1.0) is None
    assert latent_preview(torch.zeros(4, 2, 8, 8)) is None


def test_previews_come_a_few_times_never_first_or_last(monkeypatch):
    now = [100.0]
    monkeypatch.setattr("engine.preview.time.monotonic", lambda: now[0])
    clock = PreviewClock(every_s=1.0)
    due = []
    for step in range(1, 11):
        now[0] += 0.4
        due.append(clock.due(step, 10))
    assert due == [False, True, False, False, True, False, False, True, False, False]


async def test_the_engine_sends_a_preview_to_a_job_that_asks(tiny_kit, engine_cache, monkeypatch):
    from engine.api import ImageRequest, JobState
    from engine.service import Engine
    from engine.settings import EngineSettings

    settings = EngineSettings(model="tiny", device="cpu", cache_dir=engine_cache, warmup=False, quality_steps=6)
    engine = Engine(settings)
    monkeypatch.setattr("engine.service.PreviewClock", lambda: PreviewClock(every_s=0.0))  # every step but the ends
    await engine.start()
    try:
        job = await engine.submit("1", ImageRequest(prompt="a red kite", count=2, preview=True))
        plain = await engine.submit("2", ImageRequest(prompt="a red kite", count=1))
        previews = [s.preview async for s in engine.events(job) if s.state == JobState.RUNNING and s.preview]
        assert previews and Image.open(io.BytesIO(previews[-1])).format == "JPEG"
        assert not [s async for s in engine.events(plain) if s.preview], "no preview unless asked"
    finally:
        await engine.close()
