"""Offline tiny model kit: random-weight models in the real on-disk formats, for tests and dry runs.

`python -m engine.tiny DIR` (or `build(DIR)` / `ensure(DIR)`) writes, with no network access:

    DIR/sd15/                 SD1.5-shaped diffusers pipeline (no safety checker), native 128 px
    DIR/sdxl/                 SDXL-shaped diffusers pipeline (two text encoders), native 128 px
    DIR/ip_adapter/models/    ip-adapter_sd15.safetensors (original IP-Adapter layout)
                              + image_encoder/ (CLIPVisionModelWithProjection; ViT-H's place in h94/IP-Adapter)
    DIR/ip_adapter/sdxl_models/  ip-adapter_sdxl_vit-h.safetensors, ip-adapter_sdxl.safetensors
                              + image_encoder/ (bigG's place): the hub repo's layout
    DIR/t2i_adapter_sd15/     T2IAdapter, full_adapter, in_channels=3 (feed RGB edge images)
    DIR/t2i_adapter_sdxl/     T2IAdapter, full_adapter_xl, in_channels=3
    DIR/upscaler/esrgan_x4.pth  Real-ESRGAN RRDBNet x4 state dict (num_feat 8, 1 block)
    DIR/llm/                  Qwen2 causal LM + byte-level tokenizer with a ChatML chat template
    DIR/loras/tiny_style.safetensors, tiny_style_xl.safetensors   diffusers/peft-format UNet LoRAs
    DIR/embeddings/tiny_token.safetensors   textual inversion for sd15 (token "<tiny-token>")
    DIR/.complete             holds kit_id() (KIT_VERSION + digest of this builder); written last

Every part loads through the same calls as the real models (AutoPipelineForText2Image.from_pretrained,
load_ip_adapter, T2IAdapter.from_pretrained, load_lora_weights, load_textual_inversion,
engine.esrgan.load_upscaler, AutoModelForCausalLM/AutoTokenizer). Weights come from fixed seeds, so two
builds are byte-identical (with the same library versions). The outputs are noise, by design.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import sys
import time
from pathlib import Path
from typing import Any

KIT_VERSION = "1"
MARKER = ".complete"
NATIVE_SD15 = 128  # unet.config.sample_size (16) * vae scale factor (8)
NATIVE_SDXL = 128
TI_TOKEN = "<tiny-token>"
COMPONENTS = tuple("sd15 sdxl ip_adapter t2i_adapter_sd15 t2i_adapter_sdxl upscaler llm loras embeddings".split())

_UNET_CHANNELS = (16, 32)
_CLIP: dict[str, Any] = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4)
_SD_BETAS = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000)
_LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]


def _byte_symbols() -> list[str]:
    """GPT-2/CLIP byte-to-unicode table: 256 printable symbols, one per byte, in byte order."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = iter(range(256, 512))
    return [chr(b) if b in keep else chr(next(extra)) for b in range(256)]


def clip_tokenizer():
    """Byte-level CLIPTokenizer: 256 bytes, 256 bytes+</w>, <|startoftext|>=512, <|endoftext|>=513."""
    from transformers import CLIPTokenizer

    sym = _byte_symbols()
    vocab = {s: i for i, s in enumerate(sym)} | {s + "</w>": 256 + i for i, s in enumerate(sym)}
    vocab |= {"<|startoftext|>": 512, "<|endoftext|>": 513}
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def _seed(n: int) -> None:
    import torch

    torch.manual_seed(n)


def _text_encoder(with_projection: bool = False):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    cfg = CLIPTextConfig(
        **_CLIP,
        vocab_size=514,
        max_position_embeddings=77,
        bos_token_id=512,
        eos_token_id=513,
        pad_token_id=513,
        projection_dim=32,
        hidden_act="quick_gelu",
    )
    return (CLIPTextModelWithProjection if with_projection else CLIPTextModel)(cfg).eval()


def _vae(scaling_factor: float, force_upcast: bool):
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        sample_size=128,
        layers_per_block=1,
        block_out_channels=(8, 16, 16, 16),  # 4 levels: the real downscale factor 8
        norm_num_groups=8,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        scaling_factor=scaling_factor,
        force_upcast=force_upcast,
    )


def _unet_sd15():
    from diffusers import UNet2DConditionModel

    # Cross-attention block first: T2I-Adapter residuals line up only in this order.
    return UNet2DConditionModel(
        sample_size=16,
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=_UNET_CHANNELS,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=4,
        norm_num_groups=8,
    )


def _unet_sdxl():
    from diffusers import UNet2DConditionModel

    # added cond: time_ids (6 * addition_time_embed_dim 8) + pooled text_embeds (projection_dim 32) = 80
    return UNet2DConditionModel(
        sample_size=16,
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=_UNET_CHANNELS,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=64,
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        transformer_layers_per_block=1,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=80,
        norm_num_groups=8,
    )


def _scheduler():
    from diffusers import EulerDiscreteScheduler

    return EulerDiscreteScheduler(**_SD_BETAS, steps_offset=1, timestep_spacing="leading")


def assemble(unet, vae, text_encoders: list, tokenizer, scheduler):
    """A pipeline from its parts without safety checker or image encoder: SDXL when given two text encoders.
    Also what the benchmark's full-size and scaled architectures are put together with."""
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    common = dict(
        vae=vae, tokenizer=tokenizer, unet=unet, scheduler=scheduler, image_encoder=None, feature_extractor=None
    )
    if len(text_encoders) == 2:
        first, second = text_encoders
        return StableDiffusionXLPipeline(
            text_encoder=first,
            text_encoder_2=second,
            tokenizer_2=tokenizer,
            force_zeros_for_empty_prompt=True,
            **common,
        )
    return StableDiffusionPipeline(
        text_encoder=text_encoders[0], safety_checker=None, requires_safety_checker=False, **common
    )


def build_sd15(dst: Path) -> None:
    _seed(1)
    unet, vae, te = _unet_sd15(), _vae(0.18215, False), _text_encoder()
    assemble(unet, vae, [te], clip_tokenizer(), _scheduler()).save_pretrained(dst)


def build_sdxl(dst: Path) -> None:
    _seed(2)
    unet, vae = _unet_sdxl(), _vae(0.13025, True)
    te, te2 = _text_encoder(), _text_encoder(with_projection=True)
    assemble(unet, vae, [te, te2], clip_tokenizer(), _scheduler()).save_pretrained(dst)


def _ip_adapter_state(unet, clip_dim: int) -> dict:
    """Original IP-Adapter layout: image_proj.{proj,norm}.* and ip_adapter.<1,3,5..>.to_{k,v}_ip.weight."""
    import torch

    cad = unet.config.cross_attention_dim
    sd = {
        "image_proj.proj.weight": torch.randn(4 * cad, clip_dim) * 0.05,
        "image_proj.proj.bias": torch.zeros(4 * cad),
        "image_proj.norm.weight": torch.ones(cad),
        "image_proj.norm.bias": torch.zeros(cad),
    }
    # diffusers numbers the cross-attention processors 1, 3, 5, ... in unet.attn_processors order
    cross = [n for n in unet.attn_processors if n.endswith("attn2.processor")]
    for i, name in enumerate(cross):
        out_dim = unet.get_submodule(name.removesuffix(".processor")).to_k.out_features
        for kv in ("k", "v"):
            sd[f"ip_adapter.{2 * i + 1}.to_{kv}_ip.weight"] = torch.randn(out_dim, cad) * 0.05
    return {k: v.contiguous() for k, v in sd.items()}


def build_ip_adapter(dst: Path) -> None:
    from safetensors.torch import save_file
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    _seed(3)
    enc = CLIPVisionModelWithProjection(
        CLIPVisionConfig(**_CLIP, image_size=32, patch_size=8, projection_dim=32, hidden_act="quick_gelu")
    )
    sd15, sdxl = _ip_adapter_state(_unet_sd15(), 32), _ip_adapter_state(_unet_sdxl(), 32)
    # The hub's layout: models/ holds SD1.5's adapter and the ViT-H encoder that ip-adapter_sdxl_vit-h also takes;
    # sdxl_models/ holds the bigG encoder for ip-adapter_sdxl. Here every encoder is the same tiny one.
    for sub, files in (("models", {"sd15": sd15}), ("sdxl_models", {"sdxl": sdxl, "sdxl_vit-h": sdxl})):
        enc.save_pretrained(dst / sub / "image_encoder")
        for kind, sd in files.items():
            save_file(sd, str(dst / sub / f"ip-adapter_{kind}.safetensors"))


def build_t2i_adapters(root: Path) -> None:
    # From its own module: through `diffusers` mypy reads the no-torch stand-in (dummy_pt_objects), which has
    # no save_pretrained.
    from diffusers.models.adapter import T2IAdapter

    _seed(4)
    # sd15: level 0 (16 ch) at latent size (/8), level 1 (32 ch) at /16 = CrossAttnDown(16), Down(32)
    T2IAdapter(
        in_channels=3, channels=list(_UNET_CHANNELS), num_res_blocks=1, downscale_factor=8, adapter_type="full_adapter"
    ).save_pretrained(root / "t2i_adapter_sd15")
    # sdxl (full_adapter_xl): both levels at /16, matching Down(16, downsamples) then CrossAttnDown(32)
    T2IAdapter(
        in_channels=3,
        channels=list(_UNET_CHANNELS),
        num_res_blocks=1,
        downscale_factor=16,
        adapter_type="full_adapter_xl",
    ).save_pretrained(root / "t2i_adapter_sdxl")


def build_upscaler(dst: Path) -> None:
    import torch

    from engine.esrgan import RRDBNet

    _seed(5)
    net = RRDBNet(scale=4, num_feat=8, num_block=1, num_grow_ch=32)  # spandrel assumes grow 32
    dst.mkdir(parents=True, exist_ok=True)
    torch.save({"params_ema": net.state_dict()}, dst / "esrgan_x4.pth")


def build_llm(dst: Path) -> None:
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM, Qwen2Tokenizer

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]  # ids 256, 257, 258
    vocab = {s: i for i, s in enumerate(_byte_symbols())} | {s: 256 + i for i, s in enumerate(specials)}
    tok = Qwen2Tokenizer(
        vocab=vocab, merges=[], eos_token="<|im_end|>", pad_token="<|endoftext|>", model_max_length=512
    )
    tok.add_special_tokens({"additional_special_tokens": specials[1:]})
    tok.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    tok.save_pretrained(dst)
    _seed(6)
    cfg = Qwen2Config(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=258,
        pad_token_id=256,
    )
    model = Qwen2ForCausalLM(cfg).eval()
    model.generation_config = GenerationConfig(eos_token_id=258, pad_token_id=256, max_new_tokens=32)
    model.save_pretrained(dst)


def _unet_lora(unet) -> dict:
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    # init_lora_weights=False: lora_B is random too, so the LoRA visibly changes the output
    unet.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights=False, target_modules=_LORA_TARGETS))
    return convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))


def build_loras(dst: Path) -> None:
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    _seed(7)
    sd15 = _unet_lora(_unet_sd15())
    StableDiffusionPipeline.save_lora_weights(dst, unet_lora_layers=sd15, weight_name="tiny_style.safetensors")
    _seed(8)
    sdxl = _unet_lora(_unet_sdxl())
    StableDiffusionXLPipeline.save_lora_weights(dst, unet_lora_layers=sdxl, weight_name="tiny_style_xl.safetensors")


def build_embeddings(dst: Path) -> None:
    import torch
    from safetensors.torch import save_file

    _seed(9)
    dst.mkdir(parents=True, exist_ok=True)
    # diffusers textual-inversion format: one key, the token, -> [num_vectors, hidden]
    save_file({TI_TOKEN: torch.randn(1, 32) * 0.02}, str(dst / "tiny_token.safetensors"))


def kit_id() -> str:
    """What the marker holds: KIT_VERSION plus a digest of the builder sources (an edit means a rebuild)."""
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256(b"".join((here / f).read_bytes() for f in ("tiny.py", "esrgan.py")))
    return f"{KIT_VERSION}+{digest.hexdigest()[:12]}"


def is_complete(root: Path) -> bool:
    marker = Path(root) / MARKER
    return marker.is_file() and marker.read_text().strip() == kit_id()


def build(root: Path) -> Path:
    """(Re)build every component under `root`; the marker is written last. Returns `root`."""
    import torch

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).unlink(missing_ok=True)
    for name in COMPONENTS:
        shutil.rmtree(root / name, ignore_errors=True)
    with torch.no_grad(), torch.random.fork_rng(devices=[]):  # leave the caller's RNG alone
        build_sd15(root / "sd15")
        build_sdxl(root / "sdxl")
        build_ip_adapter(root / "ip_adapter")
        build_t2i_adapters(root)
        build_upscaler(root / "upscaler")
        build_llm(root / "llm")
        build_loras(root / "loras")
        build_embeddings(root / "embeddings")
    (root / MARKER).write_text(kit_id() + "\n")
    return root


def ensure(root: Path) -> Path:
    """Build the kit into `root` unless its marker matches kit_id() (safe across processes)."""
    root = Path(root)
    if is_complete(root):
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".{root.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building the same kit
        if not is_complete(root):
            build(root)
    return root


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m engine.tiny DIR", file=sys.stderr)
        return 2
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    t0 = time.perf_counter()
    root = build(Path(args[0]))
    elapsed = time.perf_counter() - t0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        print(f"{path.stat().st_size:>9}  {path.relative_to(root)}")
    total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    print(f"tiny kit {kit_id()} in {root}: {total / 1e6:.1f} MB, built in {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
