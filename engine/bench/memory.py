"""Part 3: parameter memory of the engine with every mode loaded vs a plain text2img pipeline.

Counted as unique tensors (by device and data pointer) over parameters and buffers: modules that the mode
pipelines share are counted once, and a sibling that silently copied or upcast a shared module (diffusers
issue 12754) would show up as extra memory.
"""

from __future__ import annotations

from typing import Any

import torch

# Where each loaded model comes from, in the order extra memory is attributed: (part, Models fields, components).
GROUPS = (
    ("text2img pipeline: UNet (+ LoRAs, IP-Adapter layers), VAE, text encoders", ("text2img",), "not-encoder"),
    ("IP-Adapter image encoder (reimagine, mix, photo prompt)", ("text2img",), "encoder"),
    ("img2img + inpaint pipelines (vary, restyle, zoom, upscale pass)", ("img2img", "inpaint"), "all"),
    ("structure pipeline: T2I-Adapter/ControlNet (remix)", ("structure",), "all"),
    ("GAN upscaler (upscale)", ("upscaler",), "all"),
    ("prompt LLM / translator (beautify, translation)", ("llm", "translator"), "all"),
)


def modules_of(value: Any, depth: int = 2) -> list[torch.nn.Module]:
    """Every nn.Module held by a pipeline, a (model, tokenizer) tuple, or a wrapper object's attributes."""
    if isinstance(value, torch.nn.Module):
        return [value]
    if depth == 0 or value is None or isinstance(value, (str, bytes, int, float, bool, torch.Tensor)):
        return []
    if hasattr(value, "components") and isinstance(value.components, dict):  # a diffusers pipeline
        return [m for part in value.components.values() for m in modules_of(part, 0)]
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


def tensor_bytes(modules: list[torch.nn.Module], seen: set | None = None) -> int:
    """Bytes of the tensors not in `seen` (which is updated)."""
    seen = set() if seen is None else seen
    total = 0
    for module in modules:
        for tensor in (*module.parameters(), *module.buffers()):
            key = (tensor.device, tensor.data_ptr())
            if key not in seen:
                seen.add(key)
                total += tensor.numel() * tensor.element_size()
    return total


def measure(models: Any, plain_text2img: Any) -> dict:
    """`models`: engine.models.Models with every mode loaded; `plain_text2img`: the same checkpoint loaded
    with AutoPipelineForText2Image.from_pretrained and nothing else."""
    seen: set = set()
    groups = []
    for name, fields, which in GROUPS:
        found = [m for field in fields for m in modules_of(_components(getattr(models, field, None), which))]
        groups.append({"part": name, "bytes": tensor_bytes(found, seen)})
    known = {field for _, fields, _ in GROUPS for field in fields}
    others = [m for key, value in vars(models).items() if key not in known for m in modules_of(value)]
    groups.append({"part": "anything else the engine holds", "bytes": tensor_bytes(others, seen)})
    engine_bytes = sum(group["bytes"] for group in groups)
    plain = tensor_bytes(modules_of(plain_text2img))
    return {
        "engine_bytes": engine_bytes,
        "text2img_bytes": plain,
        "ratio": engine_bytes / plain,
        # The mode pipelines alone, without the separate models some modes add (image encoder, GAN, LLM).
        "pipelines_ratio": (groups[0]["bytes"] + groups[2]["bytes"] + groups[3]["bytes"]) / plain,
        "siblings_extra_bytes": groups[2]["bytes"],
        "groups": groups,
    }


def _components(value: Any, which: str) -> Any:
    """A pipeline's components without (`not-encoder`) or only (`encoder`) its image encoder."""
    if which == "all" or not hasattr(value, "components"):
        return value
    parts = value.components
    if which == "encoder":
        return parts.get("image_encoder")
    return {name: part for name, part in parts.items() if name != "image_encoder"}


def published_sizes(family: str) -> dict:
    """The same ratios from the parameter counts of the full-size architectures (built on the meta device:
    no memory, no weights): what the measured small-scale ratios stand for. IP-Adapter with the ViT-H/14
    image encoder, T2I-Adapter (full), Real-ESRGAN x4plus; no LLM."""
    from diffusers import T2IAdapter
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    from ..esrgan import RRDBNet
    from ..tiny import _ip_adapter_state
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
        "ratio": (base + encoder + ip_layers + adapter + gan) / base,
        "pipelines_ratio": (base + ip_layers + adapter) / base,
    }
