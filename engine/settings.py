"""Engine configuration: one pydantic-settings class, read from the environment (prefix ENGINE_) or `.env`.

The bot's settings (bot/config.py) embed this class, so there is one configuration tree and nothing
else reads os.environ.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_CACHE = Path.home() / ".cache" / "easel"


class EngineSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ENGINE_", env_file=".env", extra="ignore")

    # Hub id or local folder of a diffusers pipeline; "tiny", "tiny-sdxl" = the offline SD tiny kit (engine/tiny.py),
    # "tiny-flux2", "tiny-kandinsky5", "tiny-qwen-image" = the families' tiny kits (engine/tiny_families.py).
    # FLUX.2 klein 4B: Apache-2.0, reads Russian, 4 distilled steps (README, "Model families").
    model: str = "black-forest-labs/FLUX.2-klein-4B"
    # Empty = from the model folder's model_index.json (engine/families); or sd15, sdxl, flux2_klein, kandinsky5,
    # qwen_image to force one.
    family: str = ""
    # Square size in pixels pictures are drawn at (about native_size^2 pixels per aspect); 0 = the family's own.
    native_size: int = Field(0, ge=0, le=4096)
    # Text tokens the Qwen-encoder families pad prompts to (max_sequence_length); 0 = the pipeline's own (512).
    text_tokens: int = Field(0, ge=0, le=1023)
    # Kandinsky 5: the I2I checkpoint's folder (its transformer/ is loaded beside T2I's, sharing the rest).
    edit_model: str = ""
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$")  # cuda:N: that GPU (one worker per GPU)
    # auto: bf16 on cuda when supported, else fp16; fp32 on cpu.
    dtype: Literal["auto", "fp32", "fp16", "bf16"] = "auto"
    # Folder the tiny kit is built into on first use (ENGINE_MODEL=tiny).
    cache_dir: Path = DEFAULT_CACHE
    # SDXL's VAE overflows in fp16 (black/NaN images): a fixed VAE by hub id or folder; empty = the model's own
    # VAE, which the SDXL pipelines upcast to fp32 for each encode/decode in fp16 (its config has force_upcast).
    vae: str = ""

    # Profiles: "quality" uses the model's own scheduler; "fast" a few-step LoRA (LCM/Lightning) when given.
    # Empty = the family's own (engine/families: SD 30 steps at guidance 6 / 6 at 1.5; klein 4 steps either way).
    quality_steps: int | None = Field(None, ge=1, le=150)
    quality_guidance: float | None = Field(None, ge=0, le=30)
    fast_steps: int | None = Field(None, ge=1, le=50)
    fast_guidance: float | None = Field(None, ge=0, le=30)
    # A few-step LoRA, on for fast requests only (Studio.prepare): on SD an LCM LoRA, e.g.
    # latent-consistency/lcm-lora-sdxl, drawn with LCMScheduler; on Qwen-Image Lightning, with the family's own
    # scheduler. Empty = fewer steps of the base scheduler.
    fast_lora: str = ""
    default_profile: Literal["quality", "fast"] = "quality"

    # Styles: the curated file shipped with the engine plus an administrator's own file.
    styles_file: Path | None = None
    default_style: str = "none"
    lora_dir: Path = Path("loras")

    # Optional models for the image modes; empty = the mode is reported unavailable.
    ip_adapter: str = ""  # folder or hub id laid out like h94/IP-Adapter (models/, sdxl_models/)
    # Paths inside it; empty = models/ip-adapter_sd15.safetensors or sdxl_models/ip-adapter_sdxl_vit-h.safetensors,
    # and the ViT-H encoder models/image_encoder (a bare file name means models/<name>).
    ip_adapter_weight: str = ""
    ip_adapter_encoder: str = ""
    # device: image encoder and image-attention layers stay on the compute device. offload: they are not held
    # there between image-prompt calls (GPU: host memory, copied over per call; CPU-only host: read from disk
    # on use, dropped after ip_adapter_idle_s). engine/ip_adapter.py has the trade-off.
    ip_adapter_placement: Literal["device", "offload"] = "offload"
    ip_adapter_idle_s: float = Field(120.0, gt=0)
    # Remix keeping outlines: a canny T2I-Adapter or ControlNet (folder or hub id) for SD; for Qwen-Image always a
    # ControlNet, e.g. InstantX/Qwen-Image-ControlNet-Union (no Qwen-Image T2I-Adapters exist: the kind is SD's).
    structure_adapter: str = ""
    structure_adapter_kind: Literal["t2i", "controlnet"] = "t2i"
    upscaler: str = ""  # ESRGAN-family .pth; empty = Lanczos before the diffusion pass
    upscale_long_side: int = Field(4096, ge=512, le=8192)
    upscale_tile: int = Field(1024, ge=64, le=4096)  # pixels of a refinement tile; memory scales with it
    # Chat LLM for prompt beautification (and translation when translator is empty): a hub id or folder, or "family":
    # the loaded family's own text encoder where it is a chat model (klein's Qwen3, Qwen2.5-VL), no second model.
    llm: str = ""
    translator: str = ""  # seq2seq translation model (e.g. Helsinki-NLP/opus-mt-ru-en); empty = use the LLM
    # /describe: an image-to-text model (e.g. Salesforce/blip-image-captioning-large) that writes prompts describing
    # a photo (engine/describe.py); empty = none, and the bot offers no 💬 Describe.
    caption_model: str = ""
    llm_timeout_s: float = Field(20.0, gt=0)
    beautify_system_prompt: str = (
        "You are a prompt engineer. Your mission is to expand prompts written by user. "
        "You should provide the best prompt for text to image generation in English."
    )

    # Queue and worker.
    max_running_per_user: int = Field(1, ge=1)
    max_waiting_per_user: int = Field(2, ge=0)
    max_queue: int = Field(20, ge=1)  # global cap on waiting jobs
    wait_timeout_s: float = Field(600.0, gt=0)
    run_timeout_s: float = Field(180.0, gt=0)
    # Micro-batching of compatible jobs from different users (same mode, size, steps, guidance, LoRAs, profile).
    batch_max: int = Field(8, ge=1)  # pictures in one pipeline call: two default 4-picture jobs share one
    # An idle worker holds a job this long for others to join, only while other users are active.
    batch_window_ms: int = Field(30, ge=0)
    # Threads that write the PNGs and previews while the GPU thread starts the next call (Pillow frees the GIL).
    encode_threads: int = Field(2, ge=1, le=16)

    # GPU fast paths, each switchable; engine/perf.py says what each does and when it is skipped.
    sdpa: bool = True  # fused scaled-dot-product attention (False = the classic processor, for comparison)
    tf32: bool = True  # CUDA: TF32 tensor cores for whatever still runs in fp32
    channels_last: bool = False
    compile: bool = False  # torch.compile the shared UNet and the VAE decoder; the warm-up compiles
    compile_mode: Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"] = (
        "max-autotune-no-cudagraphs"
    )
    fuse_qkv: bool = False  # skipped when LoRA styles or an IP-Adapter are loaded
    # Opt-in speed levers of the transformer families (engine/perf.py): diffusers' step cache, FP8 weights.
    step_cache: Literal["", "taylorseer", "fbc"] = ""
    fp8: bool = False
    vae_tiling: bool = True  # only pictures larger than the VAE's native size are decoded in tiles
    warmup: bool = True  # small calls at start so that the first user pays no initialisation/compilation

    # Brand styles trained from a chat (/train_style; engine/training/jobs.py): the LoRA training's settings, as
    # `python -m engine train-style` takes them. The training runs at low priority: it gives way to drawings.
    training_steps: int = Field(500, ge=1, le=20000)
    training_rank: int = Field(8, ge=1, le=256)
    training_lr: float = Field(1e-4, gt=0, le=1)
    training_batch: int = Field(1, ge=1, le=64)
    # A restart stops a chat's training at its next step with a checkpoint; a crash loses the steps since the last
    # one written every this many steps. The pictures and checkpoint of a training interrupted so wait this long
    # for the administrator's ▶ Resume, then are deleted.
    training_checkpoint_every: int = Field(100, ge=1, le=20000)
    training_keep_days: float = Field(7.0, gt=0)

    # Several GPUs (docs/FLEET.md): with "redis" the bot loads no models and submits through REDIS_URL to
    # `python -m engine.worker` processes, one per GPU.
    backend: Literal["local", "redis"] = "local"
    fleet_visibility_s: float = Field(30.0, ge=1, le=60)  # a dead worker's jobs run again elsewhere after this
    fleet_result_ttl_s: int = Field(600, ge=30)  # a finished job's pictures wait this long for the bot
    # Where a finished job's pictures wait (engine/fleet/stores.py), the same for every bot and worker: "redis",
    # "dir:/shared/folder" (mounted by all of them) or "s3://bucket/prefix" (credentials and region: AWS_*).
    fleet_store: str = Field("redis", pattern=r"^(redis|dir:/.+|s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?)$")
    fleet_s3_endpoint: str = ""  # an S3-compatible store that is not AWS: MinIO, Ceph, R2... (https://host:port)
    fleet_offline_s: float = Field(30.0, gt=0)  # a waiting job no live worker can run fails ("offline") after this
    fleet_name: str = ""  # a worker's name in the fleet; empty = host-pid
