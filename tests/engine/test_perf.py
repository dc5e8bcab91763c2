"""The fast-path switches (engine/perf.py) with the tiny kit on CPU: each one switches on or off without
changing the pictures, is applied once to the modules every mode shares, and is skipped where unsafe."""

from __future__ import annotations

import io
import logging

import numpy as np
import pytest
import torch
from PIL import Image

from engine import perf
from engine.api import ImageRequest, Mode
from engine.service import Engine
from engine.settings import EngineSettings
from engine.studio import Hooks, Studio


def settings(engine_cache, **overrides) -> EngineSettings:
    return EngineSettings(model="tiny", cache_dir=engine_cache, quality_steps=3, warmup=False, **overrides)


def pictures(studio: Studio) -> list[np.ndarray]:
    plan = studio.plan(ImageRequest(prompt="a red fox", count=2, seed=11))
    result = studio.run([plan], Hooks())[0]
    return [np.asarray(Image.open(io.BytesIO(p.png))).astype(int) for p in result.pictures]


@pytest.fixture(scope="module")
def plain(engine_cache) -> list[np.ndarray]:
    return pictures(Studio(settings(engine_cache, ip_adapter="none")))


@pytest.mark.parametrize(
    ("switch", "effect"),
    [
        ({"channels_last": True}, lambda d: d["channels_last"]),
        ({"fuse_qkv": True}, lambda d: d["fused_qkv"] and d["attention"] == ["FusedAttnProcessor2_0"]),
        ({"sdpa": False}, lambda d: d["attention"] == ["AttnProcessor"]),
        ({"channels_last": True, "fuse_qkv": True}, lambda d: d["channels_last"] and d["fused_qkv"]),
    ],
)
def test_a_switch_takes_effect_on_the_shared_modules_and_keeps_the_pictures(engine_cache, plain, switch, effect):
    studio = Studio(settings(engine_cache, ip_adapter="none", **switch))
    models = studio.models
    assert effect(perf.describe(models))
    for sibling in filter(None, (models.img2img, models.inpaint, models.structure)):
        assert sibling.unet is models.text2img.unet and sibling.vae is models.text2img.vae
    for mine, reference in zip(pictures(studio), plain, strict=True):
        assert np.abs(mine - reference).max() <= 2


def test_by_default_attention_is_sdpa_and_nothing_else_is_switched_on(engine_cache):
    described = perf.describe(Studio(settings(engine_cache, ip_adapter="none")).models)
    assert described["attention"] == ["AttnProcessor2_0"]
    assert not (described["channels_last"] or described["fused_qkv"] or described["compiled"])


LORA_STYLE = (
    "styles:\n"
    "  - id: brand\n"
    "    name: {en: Brand, ru: Бренд}\n"
    "    prompt: '{prompt}, brand look'\n"
    "    loras: [{file: tiny_style.safetensors, strength: 1.0}]\n"
)


def test_fused_qkv_is_skipped_with_lora_styles_which_still_work(engine_cache, caplog, tmp_path, sample_bytes):
    styles = tmp_path / "brand.yaml"
    styles.write_text(LORA_STYLE)
    with caplog.at_level(logging.WARNING, logger="engine.perf"):
        studio = Studio(settings(engine_cache, fuse_qkv=True, styles_file=styles))
    described = perf.describe(studio.models)
    assert not described["fused_qkv"] and "LoRA" in caplog.text
    assert described["attention"] == ["AttnProcessor2_0"]
    assert pictures(studio)
    # A LoRA style and a picture prompt together: the IP-Adapter attaches to the LoRA-patched UNet.
    request = ImageRequest(mode=Mode.REIMAGINE, style="brand", images=(sample_bytes("chelsea.png"),), count=1, seed=1)
    assert studio.run([studio.plan(request)], Hooks())[0].pictures


def test_compile_compiles_the_shared_unet_once_and_the_warm_up_covers_the_common_shapes(engine_cache, monkeypatch):
    compiled: list[tuple[str, dict]] = []
    monkeypatch.setattr(
        torch.nn.Module, "compile", lambda self, **kw: compiled.append((type(self).__name__, kw)), raising=True
    )
    studio = Studio(settings(engine_cache, ip_adapter="none", compile=True, compile_mode="default"))
    assert compiled == [
        ("UNet2DConditionModel", {"mode": "default", "fullgraph": False, "dynamic": None}),
        ("Decoder", {"mode": "default", "fullgraph": False, "dynamic": None}),
    ]
    shapes = {(r.count, r.aspect) for r in perf.warmup_requests(studio.settings)}
    assert {(1, "1:1"), (4, "1:1"), (1, "9:16")} <= shapes
    assert len(perf.warmup_requests(studio.settings.model_copy(update={"compile": False}))) == 1


async def test_the_engine_warm_up_runs_every_warm_up_request_before_serving(engine_cache, monkeypatch):
    studio = Studio(settings(engine_cache, ip_adapter="none"))
    ran: list[tuple[int, str, int]] = []
    real = studio.run

    def recording(plans, hooks):
        ran.extend((len(p.seeds), p.request.aspect, p.steps) for p in plans)
        return real(plans, hooks)

    monkeypatch.setattr(studio, "run", recording)
    monkeypatch.setattr(perf, "warmup_requests", lambda s: [ImageRequest(prompt="w", count=n) for n in (1, 2)])
    engine = Engine(studio.settings.model_copy(update={"warmup": True}), studio=studio)
    await engine.start()
    await engine.close(drain_s=0)
    assert ran == [(1, "1:1", 2), (2, "1:1", 2)]


def by_part(groups: list[dict]) -> dict[str, int]:
    return {group["part"].split(" ")[0].rstrip(":"): group["bytes"] for group in groups}


def test_every_mode_is_served_from_one_set_of_weights(engine_cache):
    """The memory figure of the benchmark: img2img and inpaint add nothing, the structure pipeline only its
    adapter (a sibling that copied or upcast a shared module, diffusers issue 12754, would add bytes)."""
    from diffusers import AutoPipelineForText2Image

    from bench.memory import measure
    from engine.models import resolve_model

    studio = Studio(settings(engine_cache))  # the kit: IP-Adapter, T2I-Adapter, upscaler, LLM
    plain = AutoPipelineForText2Image.from_pretrained(resolve_model(studio.settings), dtype=torch.float32)
    figures = measure(studio.models, plain)
    parts = by_part(figures["groups"])
    assert figures["siblings_extra_bytes"] == 0
    assert parts["structure"] == sum(p.numel() * p.element_size() for p in studio.models.structure.adapter.parameters())
    assert parts["GAN"] > 0 and parts["prompt"] > 0
    # Offloaded on this CPU-only host: nothing of the IP-Adapter is held between image-prompt calls...
    assert figures["ip_adapter_placement"] == "disk" and parts["IP-Adapter"] == 0
    during = by_part(figures["groups_during_image_prompt"])
    adapter_bytes = sum(t.nbytes for m in studio.models.ip_adapter.modules() for t in m.parameters())
    # ...and while one runs, the encoder, the image-attention layers and the projection are all there, once.
    assert during["IP-Adapter"] >= adapter_bytes > 0 and during["text2img"] == parts["text2img"]
    assert figures["ratio_during_image_prompt"] > figures["ratio"]
    assert figures["ip_adapter_attach_ms"]["first"] > 0


def test_the_benchmark_prints_its_table_with_targets():
    from bench.__main__ import table

    report = {
        "device": "cpu",
        "hardware": "test",
        "date": "today",
        "versions": {"torch": "t", "diffusers": "d"},
        "seconds": 1.0,
        "overhead": [
            {
                "case": "c",
                "steps": 20,
                "clock": "cpu",
                "ratio": 1.01,
                "ratio_wall": 1.02,
                "engine_s": 1.01,
                "direct_s": 1.0,
                "direct_wall_s": 1.0,
            }
        ],
        "throughput": [
            {
                "case": "c",
                "users": 4,
                "jobs_per_user": 3,
                "clock": "cpu",
                "ratio": 1.4,
                "ratio_wall": 1.3,
                "unbatched_ratio": 1.0,
                "batching_gain": 1.4,
                "engine_pictures_per_s": 1.4,
                "direct_pictures_per_s": 1.0,
                "batches": {"calls": 3},
            }
        ],
        "memory": {"error": "RuntimeError('boom')"},
        "bot": {"skipped": "no bot/__main__.py yet"},
    }
    text = table(report)
    assert "1.010" in text and "PASS" in text and "FAIL" in text  # overhead passes, throughput fails
    assert "boom" in text and "skipped: no bot" in text
