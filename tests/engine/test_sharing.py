"""One set of weights: every mode's pipeline shares the UNet, VAE and text encoder(s) of text-to-image, so
loading all the modes costs no more parameter memory than text-to-image alone (plus the structure adapter)."""

from __future__ import annotations

import pytest
import torch

from engine.settings import EngineSettings
from engine.studio import Studio


def storages(*modules) -> dict[int, int]:
    """Unique parameter/buffer storages (address -> bytes) of the given modules."""
    found: dict[int, int] = {}
    for module in modules:
        for tensor in (*module.parameters(), *module.buffers()):
            storage = tensor.untyped_storage()
            found[storage.data_ptr()] = storage.nbytes()
    return found


def pipeline_modules(pipe) -> list[torch.nn.Module]:
    return [part for part in pipe.components.values() if isinstance(part, torch.nn.Module)]


@pytest.fixture(scope="module", params=["tiny", "tiny-sdxl"])
def studio(request, engine_cache) -> Studio:
    return Studio(EngineSettings(model=request.param, cache_dir=engine_cache, quality_steps=2, warmup=False))


def test_every_pipeline_uses_the_same_unet_vae_and_text_encoders(studio):
    models = studio.models
    pipes = [models.text2img, models.img2img, models.inpaint, models.structure]
    for name, module in models.shared_modules().items():
        for pipe in pipes:
            assert getattr(pipe, name) is module, f"{type(pipe).__name__}.{name} is a copy"
    for pipe in pipes:
        assert pipe.vae.dtype == models.dtype and pipe.unet.dtype == models.dtype  # no fp32 upcast (issue 12754)


def test_all_modes_loaded_cost_within_10_percent_of_text_to_image_alone(studio):
    models = studio.models
    alone = storages(*pipeline_modules(models.text2img))
    everything = storages(*(m for p in (models.text2img, models.img2img, models.inpaint, models.structure)
                            for m in pipeline_modules(p)))  # fmt: skip
    adapter = storages(models.structure.adapter)  # the one extra model, there by design
    shared = {ptr: size for ptr, size in everything.items() if ptr not in adapter}
    ratio = sum(shared.values()) / sum(alone.values())
    print(f"\n{studio.settings.model}: all pipelines / text2img = {ratio:.3f} (+ structure adapter "
          f"{sum(adapter.values()) / sum(alone.values()):.1%} of text2img)")  # fmt: skip
    assert ratio <= 1.10


def test_the_ip_adapter_is_not_left_in_the_shared_unet(studio):
    """It is attached per image-prompt call (tests/engine/test_ip_adapter.py); no pipeline holds its encoder."""
    models = studio.models
    assert models.ip_adapter and models.text2img.unet.encoder_hid_proj is None
    names = {type(p).__name__ for p in models.text2img.unet.attn_processors.values()}
    assert not any(name.startswith("IPAdapter") for name in names)
    for pipe in (models.text2img, models.img2img, models.inpaint):
        assert getattr(pipe, "image_encoder", None) is None
