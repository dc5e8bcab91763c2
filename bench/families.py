"""The newer families in the benchmark: random-weight pipelines with their real architectures.

- `--family F` on a CPU: the family's architecture with every block type and the real depth, widths divided by
  CPU_DIVISOR, saved as a diffusers folder; parts 1-3 run on it as on SD1.5 (engine vs direct, batching,
  parameter memory).
- `--family F --device cuda`: the full-size architecture, built on the GPU in bf16 (speed depends on shapes,
  not on weight values), timed at 1024² for one picture and for four, with the peak memory and the ratio to the
  physical floor: the dense FLOPs of one picture (counted with torch's FlopCounterMode over one denoiser call and
  one VAE decode, times steps and CFG) divided by the GPU's bf16 dense peak.

Configs: FLUX.2 klein 4B (5 double + 20 single blocks, 24 heads x 128, Qwen3-4B text encoder: hidden 2560,
36 layers; VAE with 32 latent channels); Kandinsky 5.0 Image Lite (about 6B: model_dim 2560, ff 10240, 50 visual
blocks; Qwen2.5-VL-7B + CLIP-L; the FLUX.1 VAE, 16 channels); Qwen-Image (20B: 60 blocks, 24 heads x 128, joint
dimension 3584; Qwen2.5-VL-7B: hidden 3584, 28 layers; its own VAE, base 96, 16 channels) - from the model cards'
parameter counts and the diffusers classes' defaults: check against a real config.json before quoting a figure as
the model's. Tokenizers are the byte-level ones of the tiny kits (prompt length, not vocabulary, sets the text
encoder's cost).
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch

VERSION = "2"
CPU_DIVISOR = 16
PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12}
FAMILIES = ("sdxl", "flux2_klein", "kandinsky5")
STEPS = {"sdxl": (30, 6.0), "flux2_klein": (4, 1.0), "kandinsky5": (50, 3.5), "qwen_image": (50, 4.0)}
PUBLISHED_TFLOP = {"sdxl": 416, "flux2_klein": 150, "qwen_image": 7320}  # ../shared/FAMILIES.md, incl. VAE decode
TARGET_S = {"sdxl": 0.8, "flux2_klein": 0.35}  # per 1024² picture on an H100/H200 (issue 11)


def _qwen3(hidden: int, layers: int, heads: int, kv: int, inter: int, vocab: int) -> Any:
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from engine.tiny_families import special_id

    return Qwen3ForCausalLM(
        Qwen3Config(
            vocab_size=vocab,
            hidden_size=hidden,
            intermediate_size=inter,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            num_key_value_heads=kv,
            head_dim=hidden // heads,
            max_position_embeddings=4096,
            tie_word_embeddings=True,
            bos_token_id=None,
            eos_token_id=special_id("<|im_end|>"),
            pad_token_id=special_id("<|endoftext|>"),
        )
    ).eval()


def klein(divisor: int = 1) -> Any:
    from diffusers import AutoencoderKLFlux2, FlowMatchEulerDiscreteScheduler, Flux2KleinPipeline
    from diffusers.models import Flux2Transformer2DModel

    from engine.tiny_families import QWEN3_CHAT, qwen_tokenizer

    d = divisor
    text_hidden = 2560 // d
    head_dim = 128 // min(d, 4)
    transformer = Flux2Transformer2DModel(
        patch_size=1,
        in_channels=128,
        num_layers=5,
        num_single_layers=20,
        attention_head_dim=head_dim,
        num_attention_heads=max(2, 24 // d),
        joint_attention_dim=3 * text_hidden,
        axes_dims_rope=(head_dim // 4,) * 4,
        guidance_embeds=False,
    )
    vae = AutoencoderKLFlux2(block_out_channels=tuple(max(32, c // d) for c in (128, 256, 512, 512)))
    encoder = _qwen3(text_hidden, 36, max(2, 32 // d), max(1, 8 // d), 9728 // d, 151936 if d == 1 else 320)
    pipe: Any = Flux2KleinPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True, shift=3.0),
        vae=vae,
        text_encoder=encoder,
        tokenizer=qwen_tokenizer(QWEN3_CHAT),
        transformer=transformer,
        is_distilled=True,
    )
    return pipe


def kandinsky5(divisor: int = 1) -> Any:
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, Kandinsky5T2IPipeline
    from diffusers.models import Kandinsky5Transformer3DModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from engine.tiny import clip_tokenizer
    from engine.tiny_families import _qwen25_vl, _vl_processor

    d = divisor
    model_dim, text_dim = 2560 // d, 3584 // d
    transformer = Kandinsky5Transformer3DModel(
        in_visual_dim=16,
        out_visual_dim=16,
        in_text_dim=text_dim,
        in_text_dim2=768 // d,
        time_dim=512 // d,
        model_dim=model_dim,
        ff_dim=10240 // d,
        num_text_blocks=2,
        num_visual_blocks=50,
        axes_dims=(32, 48, 48) if d == 1 else (2, 4, 4),  # head size 128 (20 heads) / 10 (16 heads)
    )
    vae = AutoencoderKL(
        latent_channels=16,
        sample_size=1024,  # the tile size of VAE tiling: 32 (the default) tiles even a 128² decode
        layers_per_block=2,
        block_out_channels=tuple(max(32, c // d) for c in (128, 256, 512, 512)),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        scaling_factor=0.3611,
        shift_factor=0.1159,
        use_quant_conv=False,
        use_post_quant_conv=False,
    )
    clip = CLIPTextModel(
        CLIPTextConfig(
            hidden_size=768 // d,
            intermediate_size=3072 // d,
            num_hidden_layers=12,
            num_attention_heads=max(1, 12 // d),
            vocab_size=514,
            max_position_embeddings=77,
            bos_token_id=512,
            eos_token_id=513,
            pad_token_id=513,
        )
    ).eval()
    pipe: Any = Kandinsky5T2IPipeline(
        transformer=transformer,
        vae=vae,
        text_encoder=_qwen25_vl(text_dim, text_dim, layers=28, heads=max(2, 28 // d), inter=18944 // d),
        tokenizer=_vl_processor(),
        text_encoder_2=clip,
        tokenizer_2=clip_tokenizer(),
        scheduler=FlowMatchEulerDiscreteScheduler(shift=1.0),
    )
    return pipe


def qwen_image(divisor: int = 1) -> Any:
    from diffusers import AutoencoderKLQwenImage, FlowMatchEulerDiscreteScheduler, QwenImagePipeline
    from diffusers.models import QwenImageTransformer2DModel

    from engine.tiny_families import QWEN_VL_CHAT, _qwen25_vl, qwen_tokenizer

    d = divisor
    text_dim = 3584 // d
    shrink = min(d, 4)  # head size 128 -> 32: the rotary sections (16, 56, 56) / 4 still fill it
    transformer = QwenImageTransformer2DModel(
        num_layers=60,
        attention_head_dim=128 // shrink,
        num_attention_heads=max(2, 24 // d),
        joint_attention_dim=text_dim,
        axes_dims_rope=tuple(a // shrink for a in (16, 56, 56)),
    )
    scheduler = FlowMatchEulerDiscreteScheduler(
        use_dynamic_shifting=True, base_shift=0.5, max_shift=0.9, base_image_seq_len=256, max_image_seq_len=8192,
        shift_terminal=0.02, time_shift_type="exponential",
    )  # fmt: skip
    pipe: Any = QwenImagePipeline(
        scheduler=scheduler,
        vae=AutoencoderKLQwenImage(base_dim=max(16, 96 // d)),  # z 16, dims x (1, 2, 4, 4), 2 res blocks
        text_encoder=_qwen25_vl(text_dim, text_dim, layers=28, heads=max(2, 28 // d), inter=18944 // d),
        tokenizer=qwen_tokenizer(QWEN_VL_CHAT),
        transformer=transformer,
    )
    return pipe


BUILDERS = {"flux2_klein": klein, "kandinsky5": kandinsky5, "qwen_image": qwen_image}


def ensure_cpu(cache: Path, family: str) -> Path:
    """The reduced-width folder of `family` (built once per VERSION)."""
    folder = cache / f"{family}-div{CPU_DIVISOR}-v{VERSION}"
    if (folder / "model_index.json").is_file():
        return folder
    torch.manual_seed(0)
    with torch.no_grad():
        BUILDERS[family](CPU_DIVISOR).save_pretrained(folder)
    (folder / "bench.json").write_text(json.dumps({"family": family, "divisor": CPU_DIVISOR}))
    return folder


def gpu(family: str, log, repeats: int = 3, device: str = "cuda", divisor: int = 1, size: int = 1024) -> dict:
    """Full size at 1024² on CUDA: seconds per picture for 1 and 4, peak memory, the floor ratio. (`device`,
    `divisor`, `size`: a reduced smoke run of the same code on a CPU.)"""
    steps, guidance = STEPS[family]
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    torch.manual_seed(0)
    with torch.device(device):
        torch.set_default_dtype(dtype)
        try:
            pipe = _full_size(family, divisor)
        finally:
            torch.set_default_dtype(torch.float32)
    pipe.to(device, dtype)
    pipe.set_progress_bar_config(disable=True)
    if hasattr(pipe, "resolutions"):
        pipe.resolutions = [(size, size)]
    figures: dict[str, Any] = {"family": family, "steps": steps, "guidance": guidance, "size": size}
    call = _caller(pipe, family, steps, guidance, size)
    call(1)  # warm-up
    for count in (1, 4):
        _reset_peak(device)
        runs = []
        for _ in range(repeats):
            _sync(device)
            started = time.perf_counter()
            call(count)
            _sync(device)
            runs.append(time.perf_counter() - started)
        figures[f"seconds_per_picture_x{count}"] = statistics.median(runs) / count
        figures[f"peak_gib_x{count}"] = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else 0.0
        log(f"  {family} x{count}: {figures[f'seconds_per_picture_x{count}']:.3f} s per picture")
    tflop = _picture_tflop(pipe, family, steps, guidance, size)
    name = torch.cuda.get_device_name() if device == "cuda" else ""
    peak = next((v for k, v in PEAK_BF16.items() if k in name), 989e12)
    figures.update(tflop_per_picture=tflop, floor_s=tflop * 1e12 / peak, published_tflop=PUBLISHED_TFLOP.get(family))
    figures["floor_ratio_x1"] = figures["seconds_per_picture_x1"] / figures["floor_s"]
    figures["target_s"] = TARGET_S.get(family)
    figures["gpu"] = name
    return figures


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _reset_peak(device: str) -> None:
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()


def _full_size(family: str, divisor: int = 1) -> Any:
    if family == "sdxl":
        from .architectures import sdxl

        return sdxl(None if divisor == 1 else 320 // divisor)
    return BUILDERS[family](divisor)


def _caller(pipe: Any, family: str, steps: int, guidance: float, size: int = 1024):
    def call(count: int) -> Any:
        kwargs: dict[str, Any] = dict(
            prompt=["a red fox in a snowy forest at dawn"] * count,
            height=size,
            width=size,
            num_inference_steps=steps,
            guidance_scale=guidance,
            generator=[torch.Generator("cpu").manual_seed(i) for i in range(count)],
        )
        if family != "flux2_klein" and guidance > 1:
            kwargs["negative_prompt"] = [""] * count
        if family == "qwen_image":  # true CFG: its guidance_scale is for guidance-distilled checkpoints only
            kwargs["true_cfg_scale"] = guidance
        if family != "sdxl":
            kwargs["max_sequence_length"] = 512 if family == "flux2_klein" else 256
        return pipe(**kwargs)

    return call


def _picture_tflop(pipe: Any, family: str, steps: int, guidance: float, size: int = 1024) -> float:
    """Dense TFLOP of one picture: one denoiser call (x steps, x2 with CFG) plus one VAE decode."""
    from torch.utils.flop_counter import FlopCounterMode

    denoiser = pipe.unet if family == "sdxl" else pipe.transformer
    seen: list[tuple[tuple, dict]] = []

    def keep(module: Any, args: tuple, kwargs: dict) -> None:
        if not seen:
            seen.append((args, kwargs))

    handle = denoiser.register_forward_pre_hook(keep, with_kwargs=True)
    _caller(pipe, family, 1, guidance, size)(1)
    handle.remove()
    args, kwargs = seen[0]
    with torch.no_grad(), FlopCounterMode(display=False) as step:
        denoiser(*args, **kwargs)
    with torch.no_grad(), FlopCounterMode(display=False) as decode:
        pipe.vae.decode(_latent(pipe.vae, size))
    first = args[0] if args else next(v for v in kwargs.values() if isinstance(v, torch.Tensor))
    per_picture_call = step.get_total_flops() / max(1, first.shape[0])
    cfg = 2 if guidance > 1 and family != "flux2_klein" else 1
    return (per_picture_call * steps * cfg + decode.get_total_flops()) / 1e12


def _latent(vae: Any, size: int) -> torch.Tensor:
    """A latent that `vae` decodes into one size x size picture (Qwen-Image's VAE is a video VAE: one frame)."""
    config = vae.config
    if "z_dim" in config:  # AutoencoderKLQwenImage: x2 per temporal-downsample entry, spatially
        side = size // 2 ** len(config.temperal_downsample)
        return torch.randn(1, config.z_dim, 1, side, side, device=vae.device, dtype=vae.dtype)
    side = size // 2 ** (len(config.block_out_channels) - 1)
    return torch.randn(1, config.latent_channels, side, side, device=vae.device, dtype=vae.dtype)
