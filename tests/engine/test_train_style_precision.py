"""An administrator trains a brand style on a GPU, where the engine serves the model in bf16: the training holds the
frozen model once, in that dtype, and learns an fp32 adapter (forced here on the CPU with ENGINE_DTYPE=bf16, on the
tiny kits: klein's and Qwen-Image's transformers, SD1.5's UNet and a trigger's embedding). And the transformer
families draw their training noise levels where their sampler spends its steps at the training size: a large
picture's are nearer pure noise."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from diffusers import FlowMatchEulerDiscreteScheduler
from PIL import Image, ImageDraw

from engine.settings import EngineSettings
from engine.training.style import StyleTraining, advance, begin
from engine.training.trainers import trainer_for

# Qwen-Image's published scheduler config (Qwen/Qwen-Image, scheduler/scheduler_config.json).
QWEN_IMAGE_SCHEDULER = dict(
    use_dynamic_shifting=True, base_shift=0.5, max_shift=0.9, base_image_seq_len=256, max_image_seq_len=8192,
    shift=1.0, shift_terminal=0.02, time_shift_type="exponential",
)  # fmt: skip


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("brand")
    for i, colour in enumerate(("red", "purple")):
        picture = Image.new("RGB", (64, 64), "white")
        ImageDraw.Draw(picture).ellipse((12, 8, 52, 56), fill=colour)
        picture.save(folder / f"{i}.png")
    return folder


@pytest.mark.parametrize("model", ["tiny-flux2", "tiny-qwen-image", "tiny"])
def test_with_a_bf16_model_the_frozen_weights_stay_bf16_and_the_fp32_adapter_learns(
    model, pictures, engine_cache, tmp_path
):
    settings = EngineSettings(model=model, cache_dir=engine_cache, styles_file=tmp_path / "styles.yaml",
                              lora_dir=tmp_path / "loras", device="cpu", dtype="bf16", native_size=64)  # fmt: skip
    job = StyleTraining(name="brand", images=pictures, trigger="brand", steps=3, rank=4, learning_rate=1e-2,
                        resolution=64, checkpoint_every=10**6, embedding=model == "tiny")  # fmt: skip
    run = begin(job, settings, set())  # on SD1.5 with its trigger's embedding learnt too
    named = dict(run.denoiser.named_parameters())
    lora = {name for name in named if "lora_" in name}
    assert lora and {named[name].dtype for name in lora} == {torch.float32}
    assert {p.dtype for name, p in named.items() if name not in lora} == {torch.bfloat16}
    assert run.dtype == torch.bfloat16 and run.latents.dtype == torch.float32
    assert {p.dtype for p in run.parameters} == {torch.float32}  # SD1.5's token embeddings too
    torch.manual_seed(1)
    pick = torch.tensor([0])
    with torch.no_grad():
        untrained = run.trainer.loss(run, pick)
    for _ in range(job.steps):
        advance(run)
        assert math.isfinite(run.loss) and run.loss > 0
    moments = [state["exp_avg"] for state in run.optimiser.state.values()]
    assert moments and {m.dtype for m in moments} == {torch.float32}
    # The up-projections started at zero and moved (but for Qwen-Image's last text-stream output, which feeds
    # nothing: tests/engine/test_train_style_families.py).
    still = [name for name in lora if "lora_B" in name and named[name].abs().max() == 0]
    assert len(still) <= (2 if model == "tiny-qwen-image" else 0), still
    torch.manual_seed(1)
    with torch.no_grad():
        trained = run.trainer.loss(run, pick)  # the same noise and level: only the adapter differs
    assert not torch.equal(trained, untrained)


@pytest.mark.parametrize(
    ("family", "config"),
    [("qwen_image", QWEN_IMAGE_SCHEDULER), ("flux2_klein", dict(use_dynamic_shifting=True, shift=3.0))],
)
def test_a_larger_picture_trains_at_noise_levels_nearer_pure_noise(family, config):
    trainer = trainer_for(family)
    pipe = SimpleNamespace(scheduler=FlowMatchEulerDiscreteScheduler(**config))
    settings = EngineSettings(model="tiny")
    small, large = (trainer.schedule(pipe, size, settings) for size in (256, 1024))
    assert len(small) == len(large) == 1000 and 0 < float(large.min()) and float(large.max()) <= 1
    assert float(large.mean()) > float(small.mean()) + 0.03
    assert (large > 0.5).float().mean() > (small > 0.5).float().mean()
    if family == "qwen_image":  # its sampler at 1024²: two thirds of its steps above sigma 0.5, not half
        assert 0.64 < float((large > 0.5).float().mean()) < 0.7


def test_kandinsky5s_static_shift_trains_at_the_same_levels_at_every_size():
    trainer = trainer_for("kandinsky5")
    pipe = SimpleNamespace(scheduler=FlowMatchEulerDiscreteScheduler(shift=5.0))
    settings = EngineSettings(model="tiny")
    small, large = (trainer.schedule(pipe, size, settings) for size in (256, 1024))
    assert torch.equal(small, large) and float(small.mean()) > 0.6  # shift 5 leans to noise at every size
