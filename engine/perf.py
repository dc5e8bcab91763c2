"""GPU fast paths, each switchable in settings (ENGINE_*), applied once after loading and before warm-up.

What they gain, as published for SDXL 1024², 30 steps, batch 1 on an A100 80 GB (diffusers' tutorial "Accelerate
inference of text-to-image diffusion models"): fp32 7.36 s; bf16 4.63 s; adding SDPA 3.31 s, then torch.compile
with channels_last 2.54 s, then fused QKV 2.52 s. What each does and when it is safe:
- dtype (ENGINE_DTYPE, engine/models.py): bf16 on GPUs that have it, else fp16. SDXL's VAE overflows in
  fp16; the SDXL pipelines upcast it to fp32 for encode/decode because its config says `force_upcast`
  (or set ENGINE_VAE to the fp16-fixed VAE). bf16 has fp32's range: no overflow, no upcast.
- tf32 (ENGINE_TF32, CUDA): TF32 tensor cores for what still runs in fp32 (an upcast VAE).
- sdpa (ENGINE_SDPA): PyTorch's fused scaled-dot-product attention (AttnProcessor2_0; flash/memory-
  efficient kernels on CUDA). diffusers' default on torch 2; set explicitly so a checkpoint or an earlier
  call cannot leave the slow classic processor behind. Processors of adapters (IP-Adapter) are kept.
  Attention slicing stays off: it only saves memory and costs speed.
- channels_last (ENGINE_CHANNELS_LAST): NHWC memory format for the UNet and VAE convolutions.
- fuse_qkv (ENGINE_FUSE_QKV): one matmul for q/k/v (self-attention) and k/v (cross-attention) in the UNet
  and VAE. Skipped, with a warning, when LoRA styles are loaded: the fused processor would bypass the LoRA
  layers. The IP-Adapter does not block it: it is attached (with its own unfused processors) only for the
  image-prompt calls. Keeps the unfused weights too (about +25% of the attention projections' memory).
- compile (ENGINE_COMPILE, ENGINE_COMPILE_MODE): torch.compile of the UNet and the VAE decoder, compiled
  in place (`module.compile()`), so the one UNet object that every mode's pipeline shares is compiled once
  and every mode sees it. `dynamic=None` (torch's automatic dynamic shapes): the first shape compiles a
  static graph, a second shape recompiles once with the changed dimensions symbolic, so the warm-up below
  (square x1, square x4, portrait x1) leaves one graph that serves every batch size and aspect instead
  of a compile per shape. Switching LoRA styles, or attaching the IP-Adapter for an image-prompt call,
  changes guarded attributes and recompiles (once per combination, then cached up to the recompile limit).
- vae_tiling (ENGINE_VAE_TILING, engine/models.py): decode in tiles only above the VAE's native size
  (upscale refinement, 4K): bounded memory, no effect on normal pictures.
- step_cache (ENGINE_STEP_CACHE, opt-in): diffusers' caches of transformer work between steps: `taylorseer`
  (TaylorSeer: forecasts block outputs on skipped steps; runs on klein, Kandinsky 5 and Qwen-Image) and `fbc`
  (First-Block-Cache: reuses the rest of the network when the first block's output barely changes; runs on
  Qwen-Image only in diffusers 0.42.1: klein's and Kandinsky 5's blocks fail inside its hooks). Others are skipped
  with a warning. A 4-step model (klein) gains little and may lose detail; 50-step Qwen-Image and Kandinsky 5
  gain most. FasterCache is not offered: it fails on all three here.
- fp8 (ENGINE_FP8, opt-in): the denoiser's linear layers as FP8 weights with dynamic FP8 activations (torchao),
  on CUDA GPUs of compute capability 8.9+ (L4, L40S, H100/H200); elsewhere skipped with a warning.
On CPU the same switches apply (they are opt-in), but only sdpa is on by default. The transformer families use
diffusers' own attention dispatch (SDPA): `sdpa`, `channels_last` (VAE only) and `fuse_qkv` concern the UNets.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from .api import ImageRequest
from .settings import EngineSettings

log = logging.getLogger(__name__)
RECOMPILE_LIMIT = 64  # torch's default (8) silently falls back to eager after 8 shapes of one function


def apply_fast_paths(models: Any, settings: EngineSettings) -> list[str]:
    """Called once by load_models. Returns the names of the paths applied (also logged)."""
    applied: list[str] = []
    unet, vae = denoiser(models), models.text2img.vae  # shared by every sibling pipeline
    is_unet = hasattr(models.text2img, "unet")
    cuda = models.device.type == "cuda"
    if cuda and settings.tf32:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        applied.append("tf32")
    for module in (unet, vae) if is_unet else ():
        _use_sdpa(module, settings.sdpa)
    applied.append(("sdpa" if settings.sdpa else "classic-attention") if is_unet else "sdpa-dispatch")
    if settings.channels_last:
        for module in (unet, vae) if is_unet else (vae,):
            module.to(memory_format=torch.channels_last)
        applied.append("channels_last")
    applied += _transformer_levers(models, settings, unet)
    if settings.fuse_qkv and not is_unet:
        log.warning("ENGINE_FUSE_QKV skipped: %s has no fused projections in this engine", models.family)
    elif settings.fuse_qkv:
        blocker = _fusion_blocker(models)
        if blocker:
            log.warning("ENGINE_FUSE_QKV skipped: %s", blocker)
        else:
            models.text2img.fuse_qkv_projections()  # the shared UNet and VAE: every mode sees it
            applied.append("fuse_qkv")
    if settings.compile:
        from torch import _dynamo

        if _fusion_blocker(models):
            log.warning("ENGINE_COMPILE with %s: switching styles/scales recompiles", _fusion_blocker(models))

        _dynamo.config.recompile_limit = max(_dynamo.config.recompile_limit, RECOMPILE_LIMIT)
        unet.compile(mode=settings.compile_mode, fullgraph=False, dynamic=None)
        vae.decoder.compile(mode=settings.compile_mode, fullgraph=False, dynamic=None)
        applied.append(f"compile:{settings.compile_mode}")
    log.info("fast paths on %s/%s: %s", models.device, models.dtype, ", ".join(applied))
    return applied


def denoiser(models: Any) -> Any:
    """The shared UNet (SD families) or transformer (the others)."""
    pipe = models.text2img
    return pipe.unet if hasattr(pipe, "unet") else pipe.transformer


# Which family each cache runs on (checked on the tiny kits, diffusers 0.42.1).
STEP_CACHES = {"taylorseer": {"flux2_klein", "kandinsky5", "qwen_image"}, "fbc": {"qwen_image"}}


def _transformer_levers(models: Any, settings: EngineSettings, module: Any) -> list[str]:
    """The opt-in step cache and FP8 weights (see the module's docstring)."""
    applied = []
    if settings.step_cache:
        if models.family not in STEP_CACHES[settings.step_cache]:
            log.warning("ENGINE_STEP_CACHE=%s skipped: it does not run on %s", settings.step_cache, models.family)
        else:
            module.enable_cache(_cache_config(settings.step_cache))
            applied.append(f"step_cache:{settings.step_cache}")
    if settings.fp8:
        blocker = _fp8_blocker(models.device)
        if blocker:
            log.warning("ENGINE_FP8 skipped: %s", blocker)
        else:
            from torchao.quantization import Float8DynamicActivationFloat8WeightConfig, quantize_

            quantize_(module, Float8DynamicActivationFloat8WeightConfig())
            applied.append("fp8")
    return applied


def _cache_config(kind: str) -> Any:
    import diffusers

    if kind == "fbc":
        return diffusers.FirstBlockCacheConfig(threshold=0.2)
    return diffusers.TaylorSeerCacheConfig()


def _fp8_blocker(device: torch.device) -> str:
    if device.type != "cuda":
        return "FP8 matmuls need a CUDA GPU"
    if torch.cuda.get_device_capability(device) < (8, 9):
        return f"compute capability {torch.cuda.get_device_capability(device)} < 8.9 (no FP8 tensor cores)"
    try:
        import torchao  # noqa: F401
    except ImportError:
        return "torchao is not installed (pip install torchao)"
    return ""


def warmup_requests(settings: EngineSettings) -> list[ImageRequest]:
    """What Engine._warmup runs (2 steps each): one small call, or with compile the common shapes."""
    first = ImageRequest(prompt="warm-up", count=1, seed=0, profile="fast")
    if not settings.compile:
        return [first]
    # Square x1 compiles a static graph; x4 makes the batch dimension dynamic; portrait the sizes.
    return [
        first,
        ImageRequest(prompt="warm-up", count=4, seed=0, profile="fast"),
        ImageRequest(prompt="warm-up", count=1, seed=0, profile="fast", aspect="9:16"),
        ImageRequest(prompt="warm-up", count=1, seed=0, profile="quality"),
    ]


def describe(models: Any) -> dict[str, Any]:
    """What is actually in effect on the shared modules (for the benchmark's report and for tests)."""
    unet, vae = denoiser(models), models.text2img.vae
    processors = sorted({type(p).__name__ for p in unet.attn_processors.values()})
    return {
        "device": str(models.device),
        "dtype": str(models.dtype).removeprefix("torch."),
        "attention": processors,
        "channels_last": _is_channels_last(unet),
        "fused_qkv": any(getattr(m, "fused_projections", False) for m in unet.modules()),
        "compiled": getattr(unet, "_compiled_call_impl", None) is not None,
        "vae_dtype": str(vae.dtype).removeprefix("torch."),
        "vae_force_upcast": bool(getattr(vae.config, "force_upcast", False)),
        "vae_tiling": bool(getattr(vae, "use_tiling", False)),
        "tf32": bool(torch.backends.cuda.matmul.allow_tf32),
    }


def _use_sdpa(module: Any, sdpa: bool) -> None:
    """Swap only the plain attention processors; adapters' own processors (IP-Adapter) stay as they are."""
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

    want, other = (AttnProcessor2_0, AttnProcessor) if sdpa else (AttnProcessor, AttnProcessor2_0)
    current = module.attn_processors
    if not any(type(p) is other for p in current.values()):
        return
    module.set_attn_processor({name: want() if type(p) is other else p for name, p in current.items()})


def _fusion_blocker(models: Any) -> str:
    """Why fusing (and, less badly, compiling) does not suit the loaded LoRA adapters; empty when it does."""
    if models.loras or models.fast_adapter:
        return "LoRA adapters are loaded (the fused projections would bypass them)"
    return ""


def _is_channels_last(module: Any) -> bool:
    for parameter in module.parameters():
        if parameter.dim() == 4:
            return parameter.is_contiguous(memory_format=torch.channels_last)
    return False
