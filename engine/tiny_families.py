"""Offline tiny kits of the newer model families, in the real on-disk (hub) layouts, random weights.

    ENGINE_MODEL=tiny-flux2        CACHE/tiny-flux2/        Flux2KleinPipeline folder (Qwen3 encoder, is_distilled)
    ENGINE_MODEL=tiny-kandinsky5   CACHE/tiny-kandinsky5/   Kandinsky5T2IPipeline folder + transformer_i2i/
                                                           (the I2I transformer: visual_cond=True) + processor/
    ENGINE_MODEL=tiny-qwen-image   CACHE/tiny-qwen-image/   QwenImagePipeline folder + transformer_edit/ and
                                                           processor/ (Edit-Plus: Qwen-Image-Edit-2509's parts)
                                                           + controlnet/ (a QwenImageControlNetModel, for remix)

Each kit is built on first use, once (a marker with a digest of this file, written last), and loads through the
very calls real checkpoints load through (DiffusionPipeline.from_pretrained on the folder). Tokenizers are
byte-level vocabularies built in memory with Qwen's real special-token names (../shared/FAMILIES.md): no hub.
The optional models of the SD kit (the 4K upscaler, the prompt LLM) come from engine/tiny.py's kit; a kit's own
optional models (KIT_SETTINGS) are pointed at by its settings, as the SD kit's adapters are (engine/models.py).
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .tiny import _byte_symbols, _seed, _text_encoder, _vae, clip_tokenizer

KIT_VERSION = "1"
MARKER = ".complete"
NATIVE = 128  # every tiny family draws 128 px squares by default
QWEN_SPECIALS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<think>",
    "</think>",
]
QWEN_VOCAB = 320  # 256 bytes + the specials, padded
QWEN3_CHAT = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and not enable_thinking %}<think>\n\n</think>\n\n{% endif %}{% endif %}"
)
QWEN_VL_CHAT = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>{% else %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def special_id(name: str) -> int:
    return 256 + QWEN_SPECIALS.index(name)


def qwen_tokenizer(chat_template: str, max_length: int = 1024) -> Any:
    """Byte-level Qwen2Tokenizer (the class Qwen3 and Qwen2.5-VL use): never meets an unknown character."""
    from transformers import Qwen2Tokenizer

    vocab = {s: i for i, s in enumerate(_byte_symbols())} | {s: special_id(s) for s in QWEN_SPECIALS}
    tok = Qwen2Tokenizer(
        vocab=vocab, merges=[], eos_token="<|im_end|>", pad_token="<|endoftext|>", model_max_length=max_length
    )
    tok.add_special_tokens({"additional_special_tokens": QWEN_SPECIALS[1:]})
    tok.chat_template = chat_template
    return tok


def _qwen3_encoder(hidden: int) -> Any:
    from transformers import Qwen3Config, Qwen3ForCausalLM

    # klein reads hidden states 9, 18 and 27 (text_encoder_out_layers): the encoder needs 27+ layers.
    cfg = Qwen3Config(
        vocab_size=QWEN_VOCAB,
        hidden_size=hidden,
        intermediate_size=32,
        num_hidden_layers=28,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=8,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=special_id("<|im_end|>"),
        pad_token_id=special_id("<|endoftext|>"),
    )
    return Qwen3ForCausalLM(cfg).eval()


def build_flux2(dst: Path) -> None:
    from diffusers import AutoencoderKLFlux2, FlowMatchEulerDiscreteScheduler, Flux2KleinPipeline
    from diffusers.models import Flux2Transformer2DModel

    _seed(21)
    hidden = 16
    transformer = Flux2Transformer2DModel(
        patch_size=1,
        in_channels=4,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=3 * hidden,
        axes_dims_rope=[4, 4, 4, 4],
        guidance_embeds=False,
    )
    vae = AutoencoderKLFlux2(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 16, 16, 16),  # x8 like the real one
        layers_per_block=1,
        latent_channels=1,
        norm_num_groups=8,
        sample_size=NATIVE,
    )
    pipe: Any = Flux2KleinPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True, shift=3.0),
        vae=vae,
        text_encoder=_qwen3_encoder(hidden),
        tokenizer=qwen_tokenizer(QWEN3_CHAT),
        transformer=transformer,
        is_distilled=True,
    )
    pipe.save_pretrained(dst)


def _qwen25_vl(hidden: int, vision_out: int, layers: int = 2, heads: int = 2, inter: int = 32) -> Any:
    """A Qwen2.5-VL text encoder (the benchmark asks for wider ones) with a one-block vision tower."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    text = dict(
        vocab_size=QWEN_VOCAB,
        hidden_size=hidden,
        intermediate_size=inter,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=1,
        max_position_embeddings=2048,
        rope_scaling={"type": "mrope", "mrope_section": _mrope(hidden // heads)},
        rope_theta=1000000.0,
        bos_token_id=None,
        eos_token_id=special_id("<|im_end|>"),
        pad_token_id=special_id("<|endoftext|>"),
    )
    vision = dict(depth=1, hidden_size=16, intermediate_size=16, num_heads=2, out_hidden_size=vision_out, patch_size=14,
                  spatial_merge_size=2, temporal_patch_size=2, fullatt_block_indexes=[0], window_size=112)  # fmt: skip
    cfg = Qwen2_5_VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=special_id("<|image_pad|>"),
        video_token_id=special_id("<|video_pad|>"),
        vision_start_token_id=special_id("<|vision_start|>"),
        vision_end_token_id=special_id("<|vision_end|>"),
        tie_word_embeddings=True,
    )
    return Qwen2_5_VLForConditionalGeneration(cfg).eval()


def _mrope(head_dim: int) -> list[int]:
    """Qwen2.5-VL's rotary sections (time, height, width) over half a head: [16, 24, 24] at head size 128."""
    half = head_dim // 2
    first = half // 4
    return [first, (half - first) // 2, half - first - (half - first) // 2]


def _vl_processor() -> Any:
    from transformers import Qwen2VLImageProcessorPil

    from .families.processors import ImageQwen2VLProcessor

    images = Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=112 * 112)
    return ImageQwen2VLProcessor(
        image_processor=images, tokenizer=qwen_tokenizer(QWEN_VL_CHAT), chat_template=QWEN_VL_CHAT
    )


def _kandinsky_transformer(visual_cond: bool) -> Any:
    import torch
    from diffusers import Kandinsky5Transformer3DModel

    model: Any = Kandinsky5Transformer3DModel(
        in_visual_dim=4,
        out_visual_dim=4,
        in_text_dim=16,
        in_text_dim2=32,
        time_dim=16,
        patch_size=(1, 2, 2),
        model_dim=16,
        ff_dim=32,
        num_text_blocks=1,
        num_visual_blocks=1,
        axes_dims=(2, 2, 4),
        visual_cond=visual_cond,
    )
    # The real model zero-initialises its modulation: a random copy would then ignore the prompt (FAMILIES.md).
    for name, module in model.named_modules():
        if name.endswith("out_layer") and isinstance(module, torch.nn.Linear):
            torch.nn.init.normal_(module.weight, std=0.2)
    return model


def build_kandinsky5(dst: Path) -> None:
    from diffusers import FlowMatchEulerDiscreteScheduler, Kandinsky5T2IPipeline

    _seed(22)
    vae = _vae(scaling_factor=0.18215, force_upcast=True)  # AutoencoderKL's own defaults
    clip = _text_encoder()
    processor = _vl_processor()
    pipe: Any = Kandinsky5T2IPipeline(
        transformer=_kandinsky_transformer(False),
        vae=vae,
        text_encoder=_qwen25_vl(16, 16),
        tokenizer=processor,
        text_encoder_2=clip,
        tokenizer_2=clip_tokenizer(),
        scheduler=FlowMatchEulerDiscreteScheduler(shift=1.0),
    )
    pipe.save_pretrained(dst)
    _kandinsky_transformer(True).save_pretrained(dst / "transformer_i2i")


# The tiny Qwen-Image transformer's dims, which its ControlNet shares (the real Union copies 5 of the 60 blocks).
QWEN_DIMS: dict[str, Any] = dict(
    patch_size=2,
    in_channels=16,
    out_channels=4,
    num_layers=2,
    attention_head_dim=16,
    num_attention_heads=3,
    joint_attention_dim=16,
    axes_dims_rope=(8, 4, 4),
)


def _qwen_transformer() -> Any:
    from diffusers.models import QwenImageTransformer2DModel

    return QwenImageTransformer2DModel(guidance_embeds=False, **QWEN_DIMS)


def _qwen_controlnet() -> Any:
    import torch
    from diffusers import QwenImageControlNetModel

    model: Any = QwenImageControlNetModel(**QWEN_DIMS)
    # Its input and output layers start at zero (a ControlNet's training starts as a no-op): a random copy would
    # then change nothing at any conditioning scale.
    for layer in (model.controlnet_x_embedder, *model.controlnet_blocks):
        torch.nn.init.normal_(layer.weight, std=0.2)
    return model


def build_qwen_image(dst: Path) -> None:
    from diffusers import AutoencoderKLQwenImage, FlowMatchEulerDiscreteScheduler, QwenImagePipeline

    _seed(23)
    transformer = _qwen_transformer()
    vae = AutoencoderKLQwenImage(
        base_dim=4,
        z_dim=4,
        dim_mult=[1, 2, 4, 4],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
        latents_mean=[0.0] * 4,
        latents_std=[1.0] * 4,
    )
    pipe: Any = QwenImagePipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(
            use_dynamic_shifting=True,
            base_shift=0.5,
            max_shift=0.9,
            base_image_seq_len=256,
            max_image_seq_len=4096,
            shift_terminal=0.02,
        ),
        vae=vae,
        text_encoder=_qwen25_vl(16, 16),
        tokenizer=qwen_tokenizer(QWEN_VL_CHAT),
        transformer=transformer,
    )
    pipe.save_pretrained(dst)
    _vl_processor().save_pretrained(dst / "processor")
    _qwen_transformer().save_pretrained(dst / "transformer_edit")  # Edit-Plus's own weights, same architecture
    _qwen_controlnet().save_pretrained(dst / "controlnet")


BUILDERS: dict[str, Callable[[Path], None]] = {
    "tiny-flux2": build_flux2,
    "tiny-kandinsky5": build_kandinsky5,
    "tiny-qwen-image": build_qwen_image,
}


# Prompt tokens the kits' calls pad to: one token per byte makes the families' system templates 150-250 tokens long,
# and Kandinsky 5's I2I template must keep its image token.
TEXT_TOKENS = {"tiny-flux2": 64, "tiny-kandinsky5": 512, "tiny-qwen-image": 64}
# The settings a kit's own folders fill unless configured ("none" leaves the model out): Qwen-Image's ControlNet.
KIT_SETTINGS = {"tiny-qwen-image": {"structure_adapter": "controlnet"}}


def kit_settings(name: str, cache_dir: Path) -> dict[str, Path]:
    """{setting: its folder in the kit `name`}, built or not yet (resolve_model builds the kit before loading)."""
    return {key: kit_root(name, cache_dir) / folder for key, folder in KIT_SETTINGS.get(name, {}).items()}


def kit_root(name: str, cache_dir: Path) -> Path:
    return Path(cache_dir) / name


def kit_id() -> str:
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256(b"".join((here / f).read_bytes() for f in ("tiny_families.py", "families/processors.py")))
    return f"{KIT_VERSION}+{digest.hexdigest()[:12]}"


def ensure(name: str, cache_dir: Path) -> Path:
    """The folder of the tiny kit `name` (a key of BUILDERS) under cache_dir, built once (safe across processes)."""
    import torch

    root = kit_root(name, cache_dir)
    marker = root / MARKER
    if marker.is_file() and marker.read_text().strip() == kit_id():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (marker.is_file() and marker.read_text().strip() == kit_id()):
            shutil.rmtree(root, ignore_errors=True)
            with torch.no_grad(), torch.random.fork_rng(devices=[]):
                BUILDERS[name](root)
            marker.write_text(kit_id() + "\n")
    return root
