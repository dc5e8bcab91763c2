"""Random-weight pipelines with the real SD1.5 / SDXL architectures, saved as diffusers folders.

Speed depends on shapes, not on weight values, so a model built from the published configs with random
weights times like the real one. `width=None` is the full published size (for CUDA); a small `width`
keeps every block type, the four down levels, the attention layout and the VAE factor 8 of SD1.5 but
scales the channels down, so a CPU finishes a run in seconds.

The folders load through `AutoPipelineForText2Image.from_pretrained(folder)` and
`EngineSettings(model=folder)`: the very path production uses.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from engine.tiny import assemble

VERSION = "1"  # bump when a config below changes: cached folders are rebuilt
SD15_NATIVE = 512
SDXL_NATIVE = 1024
_SCHEDULER = dict(
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    num_train_timesteps=1000,
    steps_offset=1,
    timestep_spacing="leading",
)


def _text_encoder(hidden: int, layers: int, heads: int, act: str = "quick_gelu", projection: bool = False):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from engine.tiny import clip_tokenizer

    vocab = 49408  # the real CLIP vocabulary size (the embedding's memory); the byte tokenizer uses 514 ids
    config = CLIPTextConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=4 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        max_position_embeddings=77,
        hidden_act=act,
        projection_dim=hidden,
        bos_token_id=512,
        eos_token_id=513,
        pad_token_id=513,
    )
    model = (CLIPTextModelWithProjection if projection else CLIPTextModel)(config).eval()
    return model, clip_tokenizer()


def _vae(channels: tuple[int, ...], groups: int, native: int, scaling: float, force_upcast: bool):
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=channels,
        layers_per_block=2,
        norm_num_groups=groups,
        sample_size=native,
        scaling_factor=scaling,
        force_upcast=force_upcast,
    )


def _scheduler():
    from diffusers import EulerDiscreteScheduler

    with torch.device("cpu"):  # its tables live on the CPU whatever device the models are built on
        return EulerDiscreteScheduler(**_SCHEDULER)


def sd15(width: int | None = None, native: int = SD15_NATIVE):
    """SD1.5: UNet (320, 640, 1280, 1280), 3 cross-attention down levels + 1 plain, 8 heads, 2 layers per
    block; VAE (128, 256, 512, 512); CLIP ViT-L text encoder (768 wide, 12 layers). `width` = the first
    UNet level's channels (320 for the real one); the rest scales with it."""
    w = width or 320
    unet = sd15_unet(width, native)
    vae_channels = (128, 256, 512, 512) if width is None else (w, w, 2 * w, 2 * w)
    vae = _vae(vae_channels, min(32, w), SD15_NATIVE, 0.18215, False)
    encoder, tokenizer = _text_encoder(unet.config.cross_attention_dim, 12, 12 if width is None else 4)
    return assemble(unet, vae, [encoder], tokenizer, _scheduler())


def sd15_unet(width: int | None = None, native: int = SD15_NATIVE):
    from diffusers import UNet2DConditionModel

    w = width or 320
    return UNet2DConditionModel(
        sample_size=native // 8,
        in_channels=4,
        out_channels=4,
        layers_per_block=2,
        block_out_channels=(w, 2 * w, 4 * w, 4 * w),
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        cross_attention_dim=768 if width is None else max(64, 2 * w),
        attention_head_dim=8,  # SD1.5's config calls the number of heads this
        norm_num_groups=min(32, w),  # GroupNorm needs channels divisible by it
    )


def sdxl(width: int | None = None, native: int = SDXL_NATIVE):
    """SDXL base: UNet (320, 640, 1280) with 1/2/10 transformer layers, linear projections, text-time
    conditioning; VAE like SD1.5's with force_upcast; CLIP ViT-L + OpenCLIP bigG (1280 wide, 32 layers)."""
    w = width or 320
    full = width is None
    te1_hidden, te2_hidden = _sdxl_text_widths(width)
    unet = sdxl_unet(width, native)
    vae_channels = (128, 256, 512, 512) if full else (w, w, 2 * w, 2 * w)
    vae = _vae(vae_channels, min(32, w), SDXL_NATIVE, 0.13025, True)
    te1, tokenizer = _text_encoder(te1_hidden, 12, 12 if full else 4)
    te2, _ = _text_encoder(te2_hidden, 32 if full else 4, 20 if full else 4, act="gelu", projection=True)
    return assemble(unet, vae, [te1, te2], tokenizer, _scheduler())


def _sdxl_text_widths(width: int | None) -> tuple[int, int]:
    return (768, 1280) if width is None else (max(64, 2 * width), max(64, 4 * width))


def sdxl_unet(width: int | None = None, native: int = SDXL_NATIVE):
    from diffusers import UNet2DConditionModel

    w = width or 320
    full = width is None
    te1_hidden, te2_hidden = _sdxl_text_widths(width)
    time_dim = 256 if full else 32
    return UNet2DConditionModel(
        sample_size=native // 8,
        in_channels=4,
        out_channels=4,
        layers_per_block=2,
        block_out_channels=(w, 2 * w, 4 * w),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        transformer_layers_per_block=(1, 2, 10) if full else (1, 1, 2),
        attention_head_dim=(5, 10, 20) if full else (2, 4, 8),
        use_linear_projection=True,
        cross_attention_dim=te1_hidden + te2_hidden,
        addition_embed_type="text_time",
        addition_time_embed_dim=time_dim,
        projection_class_embeddings_input_dim=6 * time_dim + te2_hidden,
        norm_num_groups=min(32, w),  # GroupNorm needs channels divisible by it
    )


BUILDERS = {"sd15": sd15, "sdxl": sdxl}
UNETS = {"sd15": sd15_unet, "sdxl": sdxl_unet}


def ensure(root: Path, family: str, width: int | None = None, native: int | None = None, device: str = "cpu") -> Path:
    """The folder of `family` at `width` under `root`, built (once) with fixed-seed random weights.

    `device="cuda"` builds on the GPU (seconds instead of minutes for SDXL's 2.6B UNet parameters) and
    saves fp16 files (half the disk); loading casts to whatever dtype the engine picks.
    """
    native = native or (SD15_NATIVE if family == "sd15" else SDXL_NATIVE)
    folder = Path(root) / f"{family}-{'full' if width is None else f'w{width}'}-{native}"
    stamp = folder / ".bench-model"
    if stamp.is_file() and stamp.read_text() == VERSION:
        return folder
    with torch.random.fork_rng(devices=[]), torch.device(device):
        torch.manual_seed(0)
        pipe = BUILDERS[family](width, native)
        if device != "cpu":
            pipe.to(torch.float16)
        pipe.save_pretrained(folder)
    del pipe
    stamp.write_text(VERSION)
    return folder


def parameter_count(folder: Path) -> dict[str, int]:
    """Parameters per component, read from the saved safetensors headers (no weights loaded)."""
    counts = {}
    for component in json.loads((Path(folder) / "model_index.json").read_text()):
        files = list((Path(folder) / component).glob("*.safetensors"))
        if files:
            counts[component] = sum(_safetensors_numel(file) for file in files)
    return counts


def _safetensors_numel(path: Path) -> int:
    with open(path, "rb") as handle:
        size = int.from_bytes(handle.read(8), "little")
        header = json.loads(handle.read(size))
    total = 0
    for name, entry in header.items():
        if name != "__metadata__":
            n = 1
            for dim in entry["shape"]:
                n *= dim
            total += n
    return total


def ensure_extras(root: Path, family: str, width: int | None = None, device: str = "cpu") -> dict[str, str]:
    """The optional models every image mode needs, at the same scale as `family` at `width`, as
    ENGINE_* settings: an IP-Adapter (original layout, CLIP ViT-H/14 image encoder: 1280 wide, 32 layers),
    a T2I-Adapter (full_adapter, the UNet's channels, 2 res blocks) and a Real-ESRGAN x4plus upscaler
    (64 features, 23 blocks; the smallest the loaders accept when scaled)."""
    from safetensors.torch import save_file

    from engine.esrgan import RRDBNet
    from engine.tiny import _ip_adapter_state

    folder = Path(root) / f"{family}-{'full' if width is None else f'w{width}'}-extras"
    settings = {
        "ip_adapter": str(folder / "ip_adapter"),
        "ip_adapter_weight": f"ip-adapter_{family}.safetensors",
        "structure_adapter": str(folder / "t2i_adapter"),
        "upscaler": str(folder / "upscaler" / "esrgan_x4.pth"),
    }
    stamp = folder / ".bench-model"
    if stamp.is_file() and stamp.read_text() == VERSION:
        return settings
    from diffusers import T2IAdapter
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    full = width is None
    w = width or 320
    with torch.random.fork_rng(devices=[]), torch.device(device):
        torch.manual_seed(1)
        hidden = 1280 if full else 4 * w
        encoder = CLIPVisionModelWithProjection(
            CLIPVisionConfig(
                hidden_size=hidden,
                intermediate_size=4 * hidden,
                num_hidden_layers=32,
                num_attention_heads=16,
                image_size=224,
                patch_size=14,
                projection_dim=1024 if full else 2 * hidden,
                hidden_act="gelu",
            )
        )
        unet = UNETS[family](width)
        state = _ip_adapter_state(unet, encoder.config.projection_dim)
        encoder.save_pretrained(folder / "ip_adapter" / "models" / "image_encoder")
        save_file(
            {k: v.cpu() for k, v in state.items()},
            str(folder / "ip_adapter" / "models" / settings["ip_adapter_weight"]),
        )
        levels = unet.config.block_out_channels
        channels = [*levels, levels[-1]][:4] if family == "sdxl" else list(levels)
        T2IAdapter(
            in_channels=3,
            channels=channels,
            num_res_blocks=2,
            downscale_factor=16 if family == "sdxl" else 8,
            adapter_type="full_adapter_xl" if family == "sdxl" else "full_adapter",
        ).save_pretrained(folder / "t2i_adapter")
        net = RRDBNet(scale=4, num_feat=64, num_block=23) if full else RRDBNet(scale=4, num_feat=8, num_block=1)
        (folder / "upscaler").mkdir(parents=True, exist_ok=True)
        torch.save(
            {"params_ema": {k: v.cpu() for k, v in net.state_dict().items()}}, folder / "upscaler" / "esrgan_x4.pth"
        )
    stamp.write_text(VERSION)
    return settings
