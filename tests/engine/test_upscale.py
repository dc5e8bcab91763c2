"""Upscale to 4K with the tiny kit: the size, the time and the memory it takes, and tiles that leave no seams."""

from __future__ import annotations

import ctypes
import gc
import io
import itertools
import re
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.api import ImageRequest, Mode
from engine.images import DOCUMENT_LIMIT
from engine.modes import upscale
from engine.modes.refine import Refiner
from engine.settings import EngineSettings
from engine.studio import Hooks, Studio
from engine.tiles import Window, grid, map_tiles, spans

TIME_LIMIT_S = 60.0


@pytest.fixture(scope="module")
def studio(engine_cache) -> Studio:
    return Studio(EngineSettings(model="tiny", cache_dir=engine_cache, quality_steps=4, warmup=False))


@pytest.fixture
def settings(studio):
    """Change the studio's upscale settings for one test."""
    saved = studio.settings

    def change(**update):
        studio.settings = saved.model_copy(update=update)

    yield change
    studio.settings = saved


def png_of(picture: Image.Image) -> bytes:
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


def astronaut(sample_bytes, side: int) -> bytes:
    picture = Image.open(io.BytesIO(sample_bytes("astronaut.png"))).convert("RGB")
    return png_of(picture.resize((side, side), Image.Resampling.LANCZOS))


# ---- tiles --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("length", "tile", "overlap", "align"), [(1024, 256, 16, 4), (128, 16, 4, 2), (85, 16, 4, 1),
                                                                  (4096, 1024, 128, 8), (100, 200, 10, 1)])  # fmt: skip
def test_windows_cover_the_whole_length_and_overlap(length, tile, overlap, align):
    size, starts = spans(length, tile, overlap, align)
    assert size <= tile and starts[0] == 0 and starts[-1] + size == length
    assert all(start % align == 0 for start in starts)
    assert all(b - a <= size - overlap + align for a, b in itertools.pairwise(starts))


def run_tiles(x: torch.Tensor, windows, model, batch=3) -> torch.Tensor:
    out = torch.full_like(x, float("nan"))
    rows_seen = []

    def emit(y: int, rows: torch.Tensor) -> None:
        rows_seen.append((y, rows.shape[1]))
        out[:, y : y + rows.shape[1]] = rows

    assert map_tiles(windows, lambda w: w.of(x)[None], model, emit, channels=x.shape[0], height=x.shape[1],
                     width=x.shape[2], fade=6, batch=batch)  # fmt: skip
    # Rows come out once, in order, top to bottom.
    assert rows_seen[0][0] == 0 and sum(n for _, n in rows_seen) == x.shape[1]
    assert all(y1 == y0 + n0 for (y0, n0), (y1, _) in itertools.pairwise(rows_seen))
    return out


def test_an_identity_denoiser_gives_back_its_input_inside_the_overlaps_too():
    x = torch.randn(4, 70, 90)
    windows = grid(70, 90, 24, 8)
    coverage = torch.zeros(70, 90)
    for w in windows:
        coverage[w.y : w.y + w.h, w.x : w.x + w.w] += 1
    assert coverage.min() >= 1 and (coverage >= 2).sum() > 0.3 * coverage.numel()  # plenty of overlap
    out = run_tiles(x, windows, lambda batch, _: batch)
    assert torch.allclose(out, x, atol=1e-5)
    overlaps = coverage >= 2
    assert torch.allclose(out[:, overlaps], x[:, overlaps], atol=1e-5)


def test_a_position_independent_model_gives_one_smooth_result_without_seams():
    x = torch.randn(3, 64, 64)
    out = run_tiles(x, grid(64, 64, 20, 6), lambda batch, _: batch * 2 + 1)
    assert torch.allclose(out, x * 2 + 1, atol=1e-5)


def test_the_refinement_blends_its_unet_windows_without_seams(studio, sample_bytes):
    plan = studio.plan(ImageRequest(mode=Mode.UPSCALE, images=(astronaut(sample_bytes, 256),), seed=1))
    refiner = Refiner(studio, plan, Hooks(), (1024, 1024), 1024, 0.3)
    assert len(refiner.windows) > 1 and refiner.windows[0].h == studio.models.native // refiner.factor
    latents = torch.randn(1, 4, 128, 128)
    identity = refiner.predict_noise(latents, lambda batch, windows: batch, lambda done, total: None)
    assert torch.allclose(identity, latents, atol=1e-5)


def test_detail_transfer_adds_only_what_the_refinement_changed():
    base = Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 96, 3), dtype=np.uint8))
    small = base.resize((24, 16))
    assert np.array_equal(np.asarray(upscale.transfer_detail(base, small, small)), np.asarray(base))


def test_keeping_the_source_undoes_changes_at_its_scale_and_keeps_finer_detail():
    rng = np.random.default_rng(2)
    coarse = Image.fromarray(rng.integers(40, 216, (6, 8, 3), dtype=np.uint8))
    source = coarse.resize((32, 24), Image.Resampling.BICUBIC)  # a picture's colours vary smoothly, not as noise
    enlarged = np.asarray(source.resize((128, 96), Image.Resampling.LANCZOS)).astype(int)
    changed = enlarged.copy()
    changed[20:60, 30:70] = (230, 20, 20)  # a new shape, bigger than a source pixel (4 x 4 here)
    kept = upscale.keep_source(Image.fromarray(changed.clip(0, 255).astype(np.uint8)), source)
    small = np.asarray(kept.resize(source.size, Image.Resampling.LANCZOS)).astype(int)
    assert np.abs(small - np.asarray(source).astype(int)).mean() < 3  # scaled down it is the source again
    fine = enlarged + 12 * (np.indices((96, 128)).sum(0) % 2 * 2 - 1)[..., None]  # detail finer than a source pixel
    fine = fine.clip(0, 255).astype(np.uint8)
    assert np.abs(np.asarray(upscale.keep_source(Image.fromarray(fine), source)).astype(int) - fine).mean() < 3


def test_the_refinement_is_gentler_where_a_window_holds_a_small_part_of_the_picture():
    assert upscale.refine_strength(1.0) == upscale.refine_strength(2.0) == upscale.REFINE_STRENGTH
    assert upscale.refine_strength(4.0) == pytest.approx(upscale.REFINE_STRENGTH / 4)  # SDXL's 4K: 4 windows across
    assert upscale.refine_strength(8.0) == pytest.approx(upscale.REFINE_STRENGTH / 16)  # SD1.5's 4K
    assert upscale.refine_strength(8.0, asked=0.5) == 0.5  # a request's own strength is kept


# ---- 4K -----------------------------------------------------------------------------------------------------------
def _rss() -> tuple[int, int]:
    status = Path("/proc/self/status").read_text()
    return tuple(int(re.search(rf"{key}:\s+(\d+)", status).group(1)) * 1024 for key in ("VmHWM", "VmRSS"))


def _reset_peak() -> int:
    """Return freed memory to the OS, reset the peak (Linux: clear_refs 5) and give the resident size now."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pytest.skip("cannot reset the peak resident memory here")
    return _rss()[1]


def memory_bound(pixels: int, tile: int) -> int:
    """The bound stated in engine/modes/upscale.py."""
    return 24 * pixels + 400 * tile * tile


@pytest.mark.parametrize("side", [512, 1024])
def test_upscale_gives_4096_within_a_minute_and_a_stated_memory_bound(studio, sample_bytes, side):
    data = astronaut(sample_bytes, side)
    before = _reset_peak()
    started, cpu = time.perf_counter(), time.process_time()
    plan = studio.plan(ImageRequest(mode=Mode.UPSCALE, images=(data,), prompt="an astronaut", seed=1))
    result = studio.run([plan], Hooks())[0]  # GAN, refinement, PNG/JPEG encoding: the whole path
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    growth = _rss()[0] - before
    (picture,) = result.pictures
    assert (picture.width, picture.height) == (4096, 4096)
    assert Image.open(io.BytesIO(picture.png)).size == (4096, 4096)
    assert len(picture.png) <= DOCUMENT_LIMIT
    assert seconds < TIME_LIMIT_S, f"{side} -> 4096 took {seconds:.1f} s"
    bound = memory_bound(4096 * 4096, studio.settings.upscale_tile)
    assert growth <= bound, f"peak memory grew by {growth / 2**20:.0f} MB, bound {bound / 2**20:.0f} MB"
    print(f"\n{side} -> 4096: {seconds:.1f} s ({cpu:.1f} s of CPU), peak memory +{growth / 2**20:.0f} MB "
          f"(bound {bound / 2**20:.0f} MB)")  # fmt: skip


def test_a_landscape_photo_keeps_its_aspect_and_the_long_side(studio, sample_bytes, settings):
    settings(upscale_long_side=640)
    plan = studio.plan(ImageRequest(mode=Mode.UPSCALE, images=(sample_bytes("rocket.jpg"),), seed=1))
    (picture,) = studio.run([plan], Hooks())[0].pictures
    assert (picture.width, picture.height) == (640, 427)


class Recorder:
    """The largest output area (pixels) any model call produced, per model."""

    def __init__(self) -> None:
        self.largest: dict[str, int] = {}

    def saw(self, name: str, area: int) -> None:
        self.largest[name] = max(self.largest.get(name, 0), area)


def test_every_model_call_sees_at_most_one_tile_of_pixels(studio, sample_bytes, settings):
    tile = 256
    settings(upscale_long_side=512, upscale_tile=tile)
    models, seen = studio.models, Recorder()
    vae, unet, gan = models.text2img.vae, models.text2img.unet, models.upscaler
    f = 8

    class CountingUpscaler:
        scale = gan.scale

        def __call__(self, images):
            seen.saw("gan", images.shape[0] * images.shape[2] * images.shape[3] * self.scale**2)
            return gan(images)

    hooks = [
        vae.encoder.register_forward_pre_hook(lambda m, a: seen.saw("vae encode", a[0].shape[-2] * a[0].shape[-1])),
        vae.decoder.register_forward_pre_hook(
            lambda m, a: seen.saw("vae decode", a[0].shape[-2] * a[0].shape[-1] * f * f)
        ),
        unet.register_forward_pre_hook(
            lambda m, a: seen.saw("unet", a[0].shape[0] // 2 * a[0].shape[-2] * a[0].shape[-1] * f * f)
        ),
    ]
    models.upscaler = CountingUpscaler()
    try:
        data = astronaut(sample_bytes, 512)
        plan = studio.plan(ImageRequest(mode=Mode.UPSCALE, images=(data,), seed=1))
        (picture,) = studio.run([plan], Hooks())[0].pictures
    finally:
        models.upscaler = gan
        for hook in hooks:
            hook.remove()
    assert (picture.width, picture.height) == (512, 512)
    assert set(seen.largest) == {"gan", "vae encode", "vae decode", "unet"}
    assert max(seen.largest.values()) <= tile * tile, seen.largest


def test_without_a_gan_lanczos_enlarges_and_the_result_is_reproducible(studio, sample_bytes, settings):
    settings(upscale_long_side=512)
    gan, studio.models.upscaler = studio.models.upscaler, None
    try:
        data = astronaut(sample_bytes, 128)

        def up(seed):
            plan = studio.plan(ImageRequest(mode=Mode.UPSCALE, images=(data,), seed=seed))
            return np.asarray(Image.open(io.BytesIO(studio.run([plan], Hooks())[0].pictures[0].png)))

        a, b, c = up(1), up(1), up(2)
    finally:
        studio.models.upscaler = gan
    assert a.shape == (512, 512, 3)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_a_cancelled_upscale_stops_and_returns_nothing(studio, sample_bytes, settings):
    settings(upscale_long_side=512)
    progress = []
    hooks = Hooks(progress=lambda step, total: progress.append((step, total)), interrupted=lambda: bool(progress))
    plan = studio.plan(ImageRequest(mode=Mode.UPSCALE, images=(astronaut(sample_bytes, 512),), seed=1))
    assert studio.run([plan], hooks)[0].pictures == ()
    assert len(progress) == 1 and progress[0][1] > 1


def test_progress_counts_every_stage_up_to_its_total(studio, sample_bytes, settings):
    settings(upscale_long_side=512)
    progress = []
    plan = studio.plan(ImageRequest(mode=Mode.UPSCALE, images=(astronaut(sample_bytes, 128),), seed=1))
    studio.run([plan], Hooks(progress=lambda step, total: progress.append((step, total))))
    steps = [step for step, _ in progress]
    assert steps == sorted(steps) and progress[-1][0] == progress[-1][1]


def test_window_scaling_is_exact_on_aligned_windows():
    assert Window(8, 16, 24, 32).scaled(1 / 8) == Window(1, 2, 3, 4)
    assert Window(1, 2, 3, 4).scaled(8) == Window(8, 16, 24, 32)
