"""The IP-Adapter is attached to the shared UNet only for image-prompt calls (engine/ip_adapter.py).

Other modes run the plain UNet (same pixels as a server without an IP-Adapter); with the default `offload`
placement on a CPU-only host nothing of the adapter is held until a picture is used as a prompt, and it is
dropped again after ENGINE_IP_ADAPTER_IDLE_S; every placement gives the same pictures.
"""

from __future__ import annotations

import gc
import io
import time
import weakref

import numpy as np
import pytest
import torch

from engine import perf
from engine.api import ImageRequest, Mode
from engine.settings import EngineSettings
from engine.studio import Hooks, Studio


def make(engine_cache, model: str = "tiny", **overrides) -> Studio:
    return Studio(EngineSettings(model=model, cache_dir=engine_cache, quality_steps=3, warmup=False, **overrides))


def pixels(studio: Studio, request: ImageRequest) -> list[np.ndarray]:
    from PIL import Image

    result = studio.run([studio.plan(request)], Hooks())[0]
    return [np.asarray(Image.open(io.BytesIO(p.png))).astype(int) for p in result.pictures]


def plain_unet(studio: Studio) -> bool:
    unet = studio.models.text2img.unet
    names = {type(p).__name__ for p in unet.attn_processors.values()}
    return unet.encoder_hid_proj is None and not any(name.startswith("IPAdapter") for name in names)


@pytest.fixture(scope="module")
def cat(sample_bytes) -> bytes:
    return sample_bytes("chelsea.png")


@pytest.mark.parametrize("model", ["tiny", "tiny-sdxl"])
def test_text_to_image_runs_the_plain_unet_and_equals_a_server_without_an_ip_adapter(engine_cache, model):
    request = ImageRequest(prompt="a red fox", count=2, seed=5)
    with_adapter = make(engine_cache, model, ip_adapter_placement="device")
    assert with_adapter.models.ip_adapter.loaded and plain_unet(with_adapter)
    without = make(engine_cache, model, ip_adapter="none")
    for mine, reference in zip(pixels(with_adapter, request), pixels(without, request), strict=True):
        assert np.array_equal(mine, reference)


@pytest.mark.parametrize("model", ["tiny", "tiny-sdxl"])
def test_every_placement_gives_the_same_pictures_and_leaves_the_unet_plain(engine_cache, cat, sample_bytes, model):
    requests = [
        ImageRequest(mode=Mode.REIMAGINE, images=(cat,), count=2, seed=3),
        ImageRequest(mode=Mode.MIX, images=(sample_bytes("coffee.png"), cat), weights=(0.3, 0.7), seed=4),
        ImageRequest(mode=Mode.PHOTO_PROMPT, images=(cat,), prompt="a tiger", strength=0.6, seed=6),
    ]
    resident = make(engine_cache, model, ip_adapter_placement="device")
    offloaded = make(engine_cache, model, ip_adapter_placement="offload")
    assert offloaded.models.ip_adapter.where == "disk"  # the CPU-only host's offload
    for request in requests:
        first, second = pixels(resident, request), pixels(offloaded, request)
        assert len(first) == len(second) == request.count
        for a, b in zip(first, second, strict=True):
            assert np.array_equal(a, b), request.mode
        assert plain_unet(resident) and plain_unet(offloaded)


def test_the_picture_steers_the_result(engine_cache, cat, sample_bytes):
    """Attaching really attaches: two different pictures with the same seed give different results."""
    studio = make(engine_cache)
    one = pixels(studio, ImageRequest(mode=Mode.REIMAGINE, images=(cat,), count=1, seed=8))
    other = pixels(studio, ImageRequest(mode=Mode.REIMAGINE, images=(sample_bytes("rocket.jpg"),), count=1, seed=8))
    assert not np.array_equal(one[0], other[0])


def test_offload_on_a_cpu_host_holds_nothing_until_used_and_drops_it_when_idle(engine_cache, cat):
    studio = make(engine_cache, ip_adapter_idle_s=0.5)
    adapter = studio.models.ip_adapter
    assert not adapter.loaded and adapter.modules() == []
    request = ImageRequest(mode=Mode.REIMAGINE, images=(cat,), count=1, seed=2)
    first = pixels(studio, request)
    assert adapter.loaded and adapter.loads == 1
    held = [weakref.ref(module) for module in adapter.modules()]
    deadline = time.monotonic() + 10
    while adapter.loaded and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not adapter.loaded, "not dropped after the idle time"
    # The timer thread may still be inside its own gc.collect(), and a second one meanwhile returns at once
    # without collecting: collect until the modules are gone, for a moment at most.
    for _ in range(20):
        gc.collect()
        if all(ref() is None for ref in held):
            break
        time.sleep(0.1)
    assert all(ref() is None for ref in held), "something still holds the dropped adapter's modules"
    assert np.array_equal(pixels(studio, request)[0], first[0]) and adapter.loads == 2
    adapter.close()


def test_a_picture_is_encoded_once_while_it_is_in_the_cache(engine_cache, cat):
    studio = make(engine_cache, ip_adapter_placement="device")
    calls = []
    encoder = studio.models.ip_adapter.modules()[-1]
    encoder.register_forward_hook(lambda *args: calls.append(1))
    for seed in (1, 2):
        pixels(studio, ImageRequest(mode=Mode.REIMAGINE, images=(cat,), count=1, seed=seed))
    assert len(calls) == 1


def test_fused_qkv_is_no_longer_blocked_by_the_ip_adapter(engine_cache, cat):
    studio = make(engine_cache, fuse_qkv=True, ip_adapter_placement="device")
    described = perf.describe(studio.models)
    assert described["fused_qkv"] and described["attention"] == ["FusedAttnProcessor2_0"]
    reference = make(engine_cache, ip_adapter_placement="device")
    request = ImageRequest(mode=Mode.REIMAGINE, images=(cat,), count=1, seed=9)
    assert np.abs(pixels(studio, request)[0] - pixels(reference, request)[0]).max() <= 2
    assert perf.describe(studio.models)["attention"] == ["FusedAttnProcessor2_0"]  # restored after the call


def test_a_missing_adapter_file_is_a_start_up_error_even_when_loaded_on_use(engine_cache):
    with pytest.raises(FileNotFoundError, match="nope"):
        make(engine_cache, ip_adapter_weight="models/nope.safetensors")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="the host placement is for GPU hosts")
def test_moving_to_the_gpu_for_a_call_keeps_the_host_copies_and_frees_the_device_ones():
    """The GPU host's offload (`host` placement): the tensors go over for the call and afterwards point at the
    very same host memory again (no copy back), and the GPU copies are freed."""
    from engine.ip_adapter import _move, _restore

    layer = torch.nn.Linear(256, 256)
    layer.register_buffer("extra", torch.ones(2))
    tensors = lambda: (layer.weight, layer.bias, layer.extra)  # noqa: E731
    before = [(t.data_ptr(), t.clone()) for t in tensors()]
    held = torch.cuda.memory_allocated()
    saved = _move([layer], torch.device("cuda"))
    assert {t.device.type for t in tensors()} == {"cuda"} and torch.cuda.memory_allocated() > held
    _restore(saved)
    del saved
    assert torch.cuda.memory_allocated() == held
    for tensor, (pointer, value) in zip(tensors(), before, strict=True):
        assert tensor.device.type == "cpu" and tensor.data_ptr() == pointer and torch.equal(tensor, value)
