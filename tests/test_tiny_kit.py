"""The offline tiny model kit (engine.tiny) loads and runs through the same calls as the real models."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from PIL import Image  # noqa: E402

from engine import tiny  # noqa: E402
from engine.esrgan import RRDBNet, load_upscaler  # noqa: E402

STEPS = 4


@pytest.fixture(scope="session")
def kit(tmp_path_factory) -> Path:
    return tiny.build(tmp_path_factory.mktemp("kit") / "tiny")


def _gen(seed: int = 0):
    return torch.Generator().manual_seed(seed)


def _sd15(kit: Path):
    from diffusers import AutoPipelineForText2Image

    pipe = AutoPipelineForText2Image.from_pretrained(kit / "sd15")
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _sdxl(kit: Path):
    from diffusers import AutoPipelineForText2Image

    pipe = AutoPipelineForText2Image.from_pretrained(kit / "sdxl")
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _edges() -> Image.Image:
    img = Image.new("RGB", (tiny.NATIVE_SD15, tiny.NATIVE_SD15))
    for i in range(0, tiny.NATIVE_SD15, 16):
        for j in range(tiny.NATIVE_SD15):
            img.putpixel((i, j), (255, 255, 255))
    return img


def _photo() -> Image.Image:
    return Image.effect_noise((64, 48), 64).convert("RGB")


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_layout(kit: Path):
    assert (kit / tiny.MARKER).read_text().strip() == tiny.kit_id()
    for rel in [
        "sd15/model_index.json",
        "sdxl/model_index.json",
        "ip_adapter/models/ip-adapter_sd15.safetensors",
        "ip_adapter/sdxl_models/ip-adapter_sdxl_vit-h.safetensors",
        "ip_adapter/sdxl_models/ip-adapter_sdxl.safetensors",
        "ip_adapter/sdxl_models/image_encoder/config.json",
        "ip_adapter/models/image_encoder/config.json",
        "t2i_adapter_sd15/config.json",
        "t2i_adapter_sdxl/config.json",
        "upscaler/esrgan_x4.pth",
        "llm/config.json",
        "loras/tiny_style.safetensors",
        "loras/tiny_style_xl.safetensors",
        "embeddings/tiny_token.safetensors",
    ]:
        assert (kit / rel).is_file(), rel
    assert not (kit / "sd15" / "safety_checker").exists()
    assert sum(p.stat().st_size for p in kit.rglob("*") if p.is_file()) < 20e6


def test_sd15_text2img_native_size(kit: Path):
    pipe = _sd15(kit)
    assert type(pipe).__name__ == "StableDiffusionPipeline"
    assert pipe.vae_scale_factor == 8
    assert pipe.unet.config.sample_size * pipe.vae_scale_factor == tiny.NATIVE_SD15 == 128
    assert pipe.tokenizer.model_max_length == 77
    out = pipe(["a cat", "a dog"], num_inference_steps=STEPS, generator=[_gen(1), _gen(2)]).images
    assert [im.size for im in out] == [(128, 128)] * 2
    # a batch of one request matches the single call (up to float noise)
    batch = pipe(["a cat", "a dog"], num_inference_steps=2, generator=[_gen(1), _gen(2)], output_type="np")
    single = pipe("a cat", num_inference_steps=2, generator=_gen(1), output_type="np")
    assert abs(batch.images[0] - single.images[0]).max() < 1e-4


def test_sdxl_text2img(kit: Path):
    pipe = _sdxl(kit)
    assert type(pipe).__name__ == "StableDiffusionXLPipeline"
    assert pipe.unet.config.sample_size * pipe.vae_scale_factor == tiny.NATIVE_SDXL
    out = pipe("a cat", num_inference_steps=STEPS, generator=_gen()).images
    assert out[0].size == (tiny.NATIVE_SDXL, tiny.NATIVE_SDXL)


def test_ip_adapter_sd15(kit: Path):
    pipe = _sd15(kit)
    pipe.load_ip_adapter(str(kit / "ip_adapter"), subfolder="models", weight_name="ip-adapter_sd15.safetensors")
    pipe.set_ip_adapter_scale(0.7)
    img = pipe("a cat", ip_adapter_image=_photo(), num_inference_steps=STEPS, generator=_gen()).images[0]
    assert img.size == (128, 128)


def test_ip_adapter_sdxl(kit: Path):
    pipe = _sdxl(kit)
    # As with the hub's h94/IP-Adapter: the ViT-H variant with models/image_encoder, bigG's with its own.
    pipe.load_ip_adapter(
        str(kit / "ip_adapter"),
        subfolder="sdxl_models",
        weight_name="ip-adapter_sdxl_vit-h.safetensors",
        image_encoder_folder="models/image_encoder",
    )
    img = pipe("a cat", ip_adapter_image=_photo(), num_inference_steps=2, generator=_gen()).images[0]
    assert img.size == (128, 128)


def test_t2i_adapter_sd15(kit: Path):
    from diffusers import StableDiffusionAdapterPipeline, T2IAdapter

    base = _sd15(kit)
    adapter = T2IAdapter.from_pretrained(kit / "t2i_adapter_sd15")
    # AutoPipelineForText2Image.from_pipe(base, adapter=...) silently drops the adapter in diffusers 0.42.1
    pipe = StableDiffusionAdapterPipeline.from_pipe(base, adapter=adapter, dtype=base.dtype)
    assert pipe.unet is base.unet
    kw = dict(num_inference_steps=STEPS, output_type="np")
    on = pipe("a cat", image=_edges(), adapter_conditioning_scale=1.0, generator=_gen(), **kw).images
    off = pipe("a cat", image=_edges(), adapter_conditioning_scale=0.0, generator=_gen(), **kw).images
    assert on.shape == (1, 128, 128, 3)
    assert abs(on - off).max() > 0


def test_t2i_adapter_sdxl(kit: Path):
    from diffusers import StableDiffusionXLAdapterPipeline, T2IAdapter

    base = _sdxl(kit)
    adapter = T2IAdapter.from_pretrained(kit / "t2i_adapter_sdxl")
    pipe = StableDiffusionXLAdapterPipeline.from_pipe(base, adapter=adapter, dtype=base.dtype)
    img = pipe("a cat", image=_edges(), adapter_conditioning_scale=0.8, num_inference_steps=2).images[0]
    assert img.size == (128, 128)


def test_lora_sd15(kit: Path):
    pipe = _sd15(kit)
    kw = dict(num_inference_steps=2, output_type="np")
    base = pipe("a cat", generator=_gen(), **kw).images
    pipe.load_lora_weights(kit / "loras", weight_name="tiny_style.safetensors", adapter_name="x")
    pipe.set_adapters(["x"], [0.8])
    styled = pipe("a cat", generator=_gen(), **kw).images
    pipe.set_adapters(["x"], [0.0])
    neutral = pipe("a cat", generator=_gen(), **kw).images
    assert abs(styled - base).max() > 1e-3
    assert abs(neutral - base).max() < 1e-5


def test_lora_sdxl(kit: Path):
    pipe = _sdxl(kit)
    pipe.load_lora_weights(kit / "loras", weight_name="tiny_style_xl.safetensors", adapter_name="x")
    pipe.set_adapters(["x"], [0.8])
    assert pipe("a cat", num_inference_steps=2).images[0].size == (128, 128)


def test_textual_inversion(kit: Path):
    pipe = _sd15(kit)
    pipe.load_textual_inversion(kit / "embeddings" / "tiny_token.safetensors", token=tiny.TI_TOKEN)
    ids = pipe.tokenizer(f"a {tiny.TI_TOKEN} cat").input_ids
    assert pipe.tokenizer.convert_tokens_to_ids(tiny.TI_TOKEN) in ids
    assert pipe(f"a {tiny.TI_TOKEN} cat", num_inference_steps=2).images[0].size == (128, 128)


def test_upscaler_x4(kit: Path):
    up = load_upscaler(kit / "upscaler" / "esrgan_x4.pth", "cpu", torch.float32)
    assert up.scale == 4
    out = up(torch.rand(2, 3, 24, 20))
    assert out.shape == (2, 3, 96, 80)
    assert 0 <= out.min() and out.max() <= 1


def test_upscaler_x2_and_bad_file(tmp_path: Path):
    torch.manual_seed(0)
    torch.save({"params": RRDBNet(scale=2, num_feat=8, num_block=1).state_dict()}, tmp_path / "x2.pth")
    up = load_upscaler(tmp_path / "x2.pth", "cpu", torch.float32)
    assert up.scale == 2
    assert up(torch.rand(1, 3, 16, 10)).shape == (1, 3, 32, 20)
    (tmp_path / "junk.pth").write_bytes(b"not a model")
    with pytest.raises(ValueError, match=r"junk\.pth"):
        load_upscaler(tmp_path / "junk.pth", "cpu", torch.float32)


def test_llm_chat(kit: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(kit / "llm")
    model = AutoModelForCausalLM.from_pretrained(kit / "llm")
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "a cat, на луне"}]
    enc = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**enc, max_new_tokens=8, do_sample=False)
    text = tok.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    assert isinstance(text, str)
    assert tok.decode(enc["input_ids"][0]).endswith("<|im_start|>assistant\n")


def test_build_is_deterministic(kit: Path, tmp_path: Path):
    again = tiny.build(tmp_path / "again")
    assert _tree_digest(again) == _tree_digest(kit)


def test_ensure_builds_only_when_missing_or_stale(tmp_path: Path, monkeypatch):
    calls = []

    def fake_build(root: Path) -> Path:
        calls.append(root)
        root.mkdir(parents=True, exist_ok=True)
        (root / tiny.MARKER).write_text(tiny.kit_id())
        return root

    monkeypatch.setattr(tiny, "build", fake_build)
    root = tmp_path / "cache"
    assert tiny.ensure(root) == root and len(calls) == 1
    tiny.ensure(root)
    assert len(calls) == 1
    (root / tiny.MARKER).write_text("stale-version")
    tiny.ensure(root)
    assert len(calls) == 2
