"""Part 3: parameter memory on the compute device with every mode loaded vs a plain text2img pipeline.

Counted as unique tensors (by device and data pointer) over parameters and buffers on the compute device:
modules that the mode pipelines share are counted once, and a sibling that silently copied or upcast a shared
module (diffusers issue 12754) would show up as extra memory. The IP-Adapter is attached only for image-prompt
calls (engine/ip_adapter.py), so two figures: between such calls (what the device holds while serving text,
variations, remix, upscale...) and during one (everything on the device at once).
"""

from __future__ import annotations

import time
from typing import Any

import torch

# Where each loaded model comes from, in the order extra memory is attributed: (part, Models fields).
GROUPS = (
    # First, so that while it is attached its layers count here and not as part of the UNet.
    ("IP-Adapter: image encoder, image-attention layers, projection (reimagine, mix, photo prompt)",
     ("ip_adapter",)),
    ("text2img pipeline: UNet (+ LoRAs), VAE, text encoders", ("text2img",)),
    ("img2img + inpaint pipelines and the family's others (vary, restyle, zoom, upscale pass; Kandinsky 5 I2I)",
     ("img2img", "inpaint", "pipes")),
    ("structure pipeline: T2I-Adapter/ControlNet (remix)", ("structure",)),
    ("GAN upscaler (upscale)", ("upscaler",)),
    ("prompt LLM / translator (beautify, translation)", ("llm", "translator")),
)  # fmt: skip


def modules_of(value: Any, depth: int = 2) -> list[torch.nn.Module]:
    """Every nn.Module held by a pipeline, an IP-Adapter, a (model, tokenizer) tuple, or a wrapper's attributes."""
    if isinstance(value, torch.nn.Module):
        return [value]
    if depth == 0 or value is None or isinstance(value, (str, bytes, int, float, bool, torch.Tensor)):
        return []
    if hasattr(value, "components") and isinstance(value.components, dict):  # a diffusers pipeline
        return [m for part in value.components.values() for m in modules_of(part, 0)]
    if hasattr(value, "modules") and hasattr(value, "attached"):  # engine.ip_adapter.IPAdapter
        return value.modules()
    if isinstance(value, dict):
        items = list(value.values())
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        items = list(getattr(value, "__dict__", {}).values())
        owner = getattr(value, "__self__", None)  # a bound method such as a model's forward
        if owner is not None:
            items.append(owner)
    return [m for item in items for m in modules_of(item, depth - 1)]


def tensor_bytes(modules: list[torch.nn.Module], seen: set | None = None, device: torch.device | None = None) -> int:
    """Bytes of the tensors not in `seen` (which is updated), only those on `device`'s type when given."""
    seen = set() if seen is None else seen
    total = 0
    for module in modules:
        for tensor in (*module.parameters(), *module.buffers()):
            if device is not None and tensor.device.type != device.type:
                continue
            key = (tensor.device, tensor.data_ptr())
            if key not in seen:
                seen.add(key)
                total += tensor.numel() * tensor.element_size()
    return total


def census(models: Any) -> list[dict]:
    """Bytes on the compute device by part (each tensor counted once, in GROUPS order)."""
    seen: set = set()
    groups = []
    for name, fields in GROUPS:
        found = [m for field in fields for m in modules_of(getattr(models, field, None))]
        groups.append({"part": name, "bytes": tensor_bytes(found, seen, models.device)})
    known = {field for _, fields in GROUPS for field in fields}
    others = [m for key, value in vars(models).items() if key not in known for m in modules_of(value)]
    groups.append({"part": "anything else the engine holds", "bytes": tensor_bytes(others, seen, models.device)})
    return groups


def measure(models: Any, plain_text2img: Any) -> dict:
    """`models`: engine.models.Models with every mode loaded; `plain_text2img`: the same checkpoint loaded
    with AutoPipelineForText2Image.from_pretrained and nothing else."""
    plain = tensor_bytes(modules_of(plain_text2img))
    between = census(models)
    figures: dict[str, Any] = {
        "engine_bytes": sum(group["bytes"] for group in between),
        "text2img_bytes": plain,
        # The mode pipelines alone, without the separate models some modes add (IP-Adapter, GAN, LLM).
        "pipelines_ratio": (between[1]["bytes"] + between[2]["bytes"] + between[3]["bytes"]) / plain,
        "siblings_extra_bytes": between[2]["bytes"],
        "groups": between,
    }
    figures["ratio"] = figures["engine_bytes"] / plain
    adapter = models.ip_adapter
    if adapter is not None:
        figures.update(_during_image_prompt(models, adapter, plain))
    return figures


def _during_image_prompt(models: Any, adapter: Any, plain: int) -> dict:
    """The device while the IP-Adapter is attached, and what attaching costs (cold: read from disk)."""
    held_off_device = sum(
        t.numel() * t.element_size()
        for m in adapter.modules()
        for t in (*m.parameters(), *m.buffers())
        if t.device.type != models.device.type
    )
    adapter.drop()  # `disk` placement: the cold path reads the files again
    timings = []
    for _ in range(2):
        _sync(models.device)
        started = time.perf_counter()
        with torch.inference_mode(), adapter.attached(1.0):
            _sync(models.device)
            timings.append(time.perf_counter() - started)
            during = census(models)
    return {
        "ip_adapter_placement": adapter.where,
        "ip_adapter_off_device_bytes": held_off_device,
        "ratio_during_image_prompt": sum(group["bytes"] for group in during) / plain,
        "groups_during_image_prompt": during,
        "ip_adapter_attach_ms": {"first": timings[0] * 1000, "again": timings[1] * 1000},
    }


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def published_sizes(family: str) -> dict:
    """The same ratios from the parameter counts of the full-size architectures (built on the meta device:
    no memory, no weights): what the measured small-scale ratios stand for. IP-Adapter with the ViT-H/14
    image encoder (for SDXL: ip-adapter_sdxl_vit-h), T2I-Adapter (full), Real-ESRGAN x4plus; no LLM."""
    from diffusers import T2IAdapter
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    from engine.esrgan import RRDBNet
    from engine.tiny import _ip_adapter_state

    from .architectures import BUILDERS

    def count(modules) -> int:
        return sum(p.numel() for m in modules for p in m.parameters())

    with torch.device("meta"):
        pipe = BUILDERS[family](None)
        base = count(m for m in pipe.components.values() if isinstance(m, torch.nn.Module))
        encoder = count([CLIPVisionModelWithProjection(CLIPVisionConfig(
            hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=16,
            image_size=224, patch_size=14, projection_dim=1024, hidden_act="gelu"))])  # fmt: skip
        ip_layers = sum(t.numel() for t in _ip_adapter_state(pipe.unet, 1024).values())
        xl = family == "sdxl"
        adapter = count([T2IAdapter(
            in_channels=3, channels=[320, 640, 1280, 1280], num_res_blocks=2, downscale_factor=16 if xl else 8,
            adapter_type="full_adapter_xl" if xl else "full_adapter")])  # fmt: skip
        gan = count([RRDBNet(scale=4, num_feat=64, num_block=23)])
    return {
        "family": family,
        "text2img_params": base,
        "image_encoder_params": encoder,
        "ip_adapter_layer_params": ip_layers,
        "structure_adapter_params": adapter,
        "upscaler_params": gan,
        # On the device between image-prompt calls (the IP-Adapter offloaded), and with it attached or resident.
        "ratio": (base + adapter + gan) / base,
        "ratio_during_image_prompt": (base + encoder + ip_layers + adapter + gan) / base,
        "pipelines_ratio": (base + adapter) / base,
    }
