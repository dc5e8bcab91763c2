"""An administrator trains a brand style on the transformer families (FLUX.2 klein, Kandinsky 5, Qwen-Image), each
with its own objective, on the tiny kits: a few steps on three small pictures write the adapter and the style
record with a finite loss; the engine that was already serving draws the same seed differently with the style (in
text-to-image and in a variation, whose pipeline may have a transformer of its own) and exactly as before without
it; trained hard on one picture, the family's own sampler draws near that picture; a stopped run resumes to the
adapter of a run that was not stopped; what a family cannot train is refused at once with a message; the chat's
/train_style trains on klein too."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image, ImageDraw
from safetensors.torch import load_file

from engine.__main__ import main
from engine.api import ImageRequest, JobState, Mode, TrainingRequest
from engine.service import Engine
from engine.settings import EngineSettings
from engine.studio import Hooks, Studio
from engine.training.style import Outcome, Stopped, StyleTraining, TrainingHooks, train

FAMILIES = {"tiny-flux2": "flux2_klein", "tiny-kandinsky5": "kandinsky5", "tiny-qwen-image": "qwen_image"}
KITS = tuple(FAMILIES)
# Few steps at a high rate: enough to move random tiny weights, not to learn a look (tests/engine/test_train_style.py
# shows a style learnt, on the trained tiny-shapes kit).
JOB = dict(trigger="brand", steps=6, rank=4, batch=2, learning_rate=1e-2, resolution=64, checkpoint_every=3)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def brand_pictures(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("brand")
    for i, colour in enumerate(("red", "orange", "purple")):
        picture = Image.new("RGB", (80, 64), "white")  # not square: the trainer crops
        ImageDraw.Draw(picture).ellipse((12, 8, 60, 56), fill=colour)
        picture.save(folder / f"{i}.png")
        (folder / f"{i}.txt").write_text(f"a {colour} circle on white")
    return folder


def admin_settings(model: str, root: Path, cache: Path) -> EngineSettings:
    (root / "styles.yaml").write_text("styles: []\n")
    return EngineSettings(
        model=model, cache_dir=cache, styles_file=root / "styles.yaml", lora_dir=root / "loras",
        quality_steps=2, native_size=64, warmup=False,
    )  # fmt: skip


def drawings(studio: Studio, style: str) -> list[np.ndarray]:
    """A picture from text and a variation of a photo, the same seeds each time."""
    photo = io.BytesIO()
    Image.new("RGB", (64, 64), "teal").save(photo, format="PNG")
    requests = [
        ImageRequest(prompt="a cat", style=style, count=1, seed=7),
        ImageRequest(mode=Mode.VARY, images=(photo.getvalue(),), prompt="a cat", style=style, count=1, seed=7),
    ]
    results = [studio.run([studio.plan(request)], Hooks())[0] for request in requests]
    return [np.asarray(Image.open(io.BytesIO(r.pictures[0].png))).astype(int) for r in results]


@dataclass
class Trained:
    model: str
    settings: EngineSettings
    studio: Studio  # serving since before the style was trained
    before: list[np.ndarray]  # its drawings with no style, before the training
    outcome: Outcome


@pytest.fixture(scope="module", params=KITS)
def trained(request, engine_cache, brand_pictures, tmp_path_factory) -> Trained:
    settings = admin_settings(request.param, tmp_path_factory.mktemp(request.param), engine_cache)
    studio = Studio(settings)
    before = drawings(studio, "none")
    outcome = train(StyleTraining(name="brand", images=brand_pictures, **JOB), settings)
    return Trained(request.param, settings, studio, before, outcome)


def test_a_few_steps_write_the_adapter_and_the_style_record_with_a_finite_loss(trained):
    outcome = trained.outcome
    assert math.isfinite(outcome.loss) and outcome.loss > 0
    layers = load_file(outcome.lora)
    assert layers and all(key.startswith("transformer.") for key in layers)  # the format load_lora_weights reads
    # The LoRA's up-projections start at zero; trained, they moved (but for the text stream's output in
    # Qwen-Image's last block, which feeds nothing: the picture is read from the image stream alone).
    up = {key: value for key, value in layers.items() if "lora_B" in key}
    still = [key for key, value in up.items() if value.abs().max() == 0]
    assert up and len(still) <= (2 if trained.model == "tiny-qwen-image" else 0), still
    record = yaml.safe_load(trained.settings.styles_file.read_text())["styles"][0]
    assert record["id"] == "brand" and record["prompt"] == "{prompt}, brand"
    assert record["loras"] == [{"file": "brand.safetensors", "strength": 1.0}] and "embeddings" not in record
    assert record["trained"]["steps"] == JOB["steps"] and record["trained"]["family"] == FAMILIES[trained.model]
    assert not (trained.settings.lora_dir / ".training" / "brand" / "checkpoint.pt").exists()  # done: removed


def test_the_serving_engine_draws_the_style_differently_and_the_others_as_before(trained):
    studio = trained.studio
    assert "brand" in studio.styles  # the changed styles file is read again, no restart
    styled = drawings(studio, "brand")
    for plain, with_style in zip(trained.before, styled, strict=True):
        assert np.abs(plain - with_style).mean() > 0.5
    again = drawings(studio, "none")  # the adapter is switched off for other styles
    assert all(np.array_equal(a, b) for a, b in zip(trained.before, again, strict=True))


def test_a_style_trained_on_another_family_is_left_out_and_the_engine_starts(trained, engine_cache, caplog):
    """The model changed under a styles file (klein's brand style, now on the SD kit): the style is not offered,
    the log says why, and every other style draws."""
    others = [kit for kit in ("tiny", *KITS) if kit != trained.model]
    other = others[KITS.index(trained.model) % len(others)]
    settings = trained.settings.model_copy(update={"model": other})
    with caplog.at_level("WARNING", logger="engine.models"):
        studio = Studio(settings)
    assert "brand" not in studio.styles and "none" in studio.styles
    assert any("style brand left out" in record.getMessage() for record in caplog.records)
    picture = studio.run([studio.plan(ImageRequest(prompt="a cat", count=1, seed=7))], Hooks())[0].pictures[0]
    assert picture.png


# ---- the objective is the one the pipeline samples with ------------------------------------------------------------
def reference_latents(model: str, pipe, pixels: torch.Tensor) -> torch.Tensor:
    """The picture as the pipeline's latents (the VAE's mean, as the pipeline hands latents out), [1, C, h, w]."""
    if model == "tiny-qwen-image":
        config = pipe.vae.config
        latents = pipe.vae.encode(pixels[:, :, None]).latent_dist.mode()[:, :, 0]
        mean, std = (torch.tensor(values)[:, None, None] for values in (config.latents_mean, config.latents_std))
        return (latents - mean) / std
    latents = pipe.vae.encode(pixels).latent_dist.mode()
    return latents * pipe.vae.config.scaling_factor if model == "tiny-kandinsky5" else latents


def sampled_latents(model: str, pipe, out: torch.Tensor) -> torch.Tensor:
    """What the pipeline returns for output_type="latent", as [1, C, h, w]."""
    if model == "tiny-qwen-image":  # packed 2x2 patches
        return pipe._unpack_latents(out, 64, 64, pipe.vae_scale_factor)[:, :, 0]
    return out[:, 0].permute(0, 3, 1, 2) if model == "tiny-kandinsky5" else out  # Kandinsky: one frame, channels last


@pytest.mark.parametrize("model", KITS)
def test_trained_hard_on_one_picture_the_familys_own_sampler_draws_near_it(model, engine_cache, tmp_path):
    """Were the target's sign, the noise level's scale or the packing not the pipeline's, its sampler (from noise,
    its own steps, the saved adapter loaded as a style) would not land nearer the picture than without the style."""
    folder = tmp_path / "one"
    folder.mkdir()
    pixels = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    for i in range(2):  # a style takes two pictures at least: the same one twice
        Image.fromarray(pixels).save(folder / f"{i}.png")
    settings = admin_settings(model, tmp_path, engine_cache)
    job = dict(steps=300, rank=8, batch=1, learning_rate=2e-2, resolution=64, noise_offset=0.0)
    train(StyleTraining(name="one", images=folder, checkpoint_every=10**6, **job), settings)
    studio = Studio(settings)
    pipe = studio.models.text2img
    pipe.resolutions = [(64, 64)]  # Kandinsky 5 snaps sizes to this list
    x = torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 127.5 - 1
    with torch.no_grad():
        target = reference_latents(model, pipe, x)
        distances = []
        for style in ("none", "one"):
            studio.use_style_adapters(pipe, studio.styles[style])
            out = pipe(prompt="", height=64, width=64, num_inference_steps=8, guidance_scale=1.0, output_type="latent",
                       generator=torch.Generator().manual_seed(1), **studio.models.call_defaults)[0]  # fmt: skip
            distances.append(float((sampled_latents(model, pipe, out) - target).pow(2).mean()))
    print(f"{model}: distance to the picture without the style {distances[0]:.3f}, with it {distances[1]:.3f}")
    assert distances[1] < 0.6 * distances[0], distances


def test_a_stopped_run_resumes_to_the_adapter_of_a_run_not_stopped(trained, brand_pictures, tmp_path, engine_cache):
    settings = admin_settings(trained.model, tmp_path, engine_cache)
    job = StyleTraining(name="brand", images=brand_pictures, **JOB)
    with pytest.raises(Stopped):
        train(job, settings, TrainingHooks(stop=_after(4)))
    assert (settings.lora_dir / ".training" / "brand" / "checkpoint.pt").is_file()
    resumed = train(StyleTraining(name="brand", images=brand_pictures, resume=True, **JOB), settings)
    a, b = load_file(resumed.lora), load_file(trained.outcome.lora)
    assert a.keys() == b.keys() and all((a[k] - b[k]).abs().max() < 1e-6 for k in a)


def _after(steps: int):
    calls = iter(range(10**6))
    return lambda: next(calls) >= steps


@pytest.mark.parametrize(
    ("model", "options", "message"),
    [
        *[(kit, ["--embedding"], "textual inversion is for the SD1.5 family only") for kit in KITS],
        ("tiny-flux2", ["--blocks", "down,up"], "on flux2_klein use all, or a comma list of double, single"),
        ("tiny-kandinsky5", ["--blocks", "single"], "on kandinsky5 use all, or a comma list of text, visual"),
        ("tiny-qwen-image", ["--resolution", "72"], "--resolution must be a multiple of 16"),
    ],
)
def test_what_a_family_cannot_train_is_refused_with_a_message(
    model, options, message, brand_pictures, tmp_path, engine_cache, monkeypatch, capsys
):
    for name, value in (("MODEL", model), ("CACHE_DIR", engine_cache), ("STYLES_FILE", tmp_path / "styles.yaml"),
                        ("LORA_DIR", tmp_path / "loras")):  # fmt: skip
        monkeypatch.setenv(f"ENGINE_{name}", str(value))
    assert main(["train-style", "brand", "--images", str(brand_pictures), "--trigger", "brand", *options]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "loras").exists()


async def test_the_chat_trains_a_style_on_klein_and_it_draws(engine_cache, brand_pictures, tmp_path):
    settings = admin_settings("tiny-flux2", tmp_path, engine_cache)
    settings = settings.model_copy(update={"training_steps": 3, "training_batch": 2, "batch_window_ms": 0})
    files = sorted(brand_pictures.glob("*.png"))
    request = TrainingRequest(name="chat-brand", pictures=tuple(f.read_bytes() for f in (files * 2)[:5]))
    engine = Engine(settings)
    await engine.start()
    try:
        job = await engine.train_style("admin", request)
        async for status in engine.events(job):
            if status.state.finished:
                break
        assert status.state == JobState.DONE and status.step == 3
        assert "chat-brand" in engine.styles()
        drawing = await engine.submit("user", ImageRequest(prompt="a cat", style="chat-brand", count=1, seed=1))
        assert len((await engine.result(drawing)).pictures) == 1
    finally:
        await engine.close(drain_s=0)
