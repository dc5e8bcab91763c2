"""Qwen-Image's remix keeping outlines, on the tiny kit's ControlNet: the outline strength steers the picture (at 0 the
outlines are left out), a seed makes its picture again, and without a ControlNet remix is not offered, saying why."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from engine.api import ImageRequest, Mode
from engine.settings import EngineSettings
from engine.studio import Hooks, Studio

WHY = "needs a Qwen-Image ControlNet (ENGINE_STRUCTURE_ADAPTER: InstantX/Qwen-Image-ControlNet-Union)"


@pytest.fixture(scope="module")
def qwen(engine_cache) -> Studio:
    torch.set_num_threads(1)
    return Studio(EngineSettings(model="tiny-qwen-image", cache_dir=engine_cache, quality_steps=2, warmup=False))


def remix(studio: Studio, photo: bytes, structure: float) -> np.ndarray:
    request = ImageRequest(mode=Mode.REMIX, images=(photo,), prompt="тигр", structure=structure, seed=7, count=1)
    picture = studio.run([studio.plan(request)], Hooks())[0].pictures[0]
    return np.asarray(Image.open(io.BytesIO(picture.png))).astype(int)


def mirrored(photo: bytes) -> bytes:
    """The same photo with its outlines elsewhere: same size, so the same plan."""
    out = io.BytesIO()
    ImageOps.mirror(Image.open(io.BytesIO(photo)).convert("RGB")).save(out, format="PNG")
    return out.getvalue()


def test_the_outline_strength_steers_a_qwen_remix_and_its_seed_makes_it_again(qwen, sample_bytes):
    cat = sample_bytes("chelsea.png")
    assert type(qwen.models.structure).__name__ == "QwenImageControlNetPipeline"
    kept = remix(qwen, cat, 1.0)
    assert np.array_equal(kept, remix(qwen, cat, 1.0)), "same seed, same pixels"
    ignored = remix(qwen, cat, 0.0)
    assert not np.array_equal(kept, ignored), "the outline strength is the ControlNet's conditioning scale"
    assert not np.array_equal(kept, remix(qwen, mirrored(cat), 1.0)), "the picture's own outlines drive it"
    assert np.array_equal(ignored, remix(qwen, mirrored(cat), 0.0)), "at 0 the outlines are left out"


def test_without_a_controlnet_qwen_offers_no_remix_and_modes_says_why(monkeypatch, engine_cache, capsys):
    from engine.__main__ import main

    monkeypatch.setenv("ENGINE_MODEL", "tiny-qwen-image")
    monkeypatch.setenv("ENGINE_CACHE_DIR", str(engine_cache))
    monkeypatch.setenv("ENGINE_STRUCTURE_ADAPTER", "none")
    assert main(["modes"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "family: qwen_image"
    assert "generate" in lines and "vary" in lines and "remix" not in lines
    assert f"# not available: remix: {WHY}" in lines


def test_an_sd_adapter_left_in_the_setting_is_refused_by_name(engine_cache, tiny_kit):
    adapter = str(tiny_kit / "t2i_adapter_sd15")
    settings = EngineSettings(model="tiny-qwen-image", cache_dir=engine_cache, warmup=False, structure_adapter=adapter)
    with pytest.raises(ValueError, match="holds a T2IAdapter, not a Qwen-Image ControlNet"):
        Studio(settings)
