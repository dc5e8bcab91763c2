"""Model families: one small module each, saying which modes the family can do and how, and how it loads.

A family is found from the model folder (`model_index.json`'s `_class_name`), or named by ENGINE_FAMILY. Every
family loads one set of weights and derives each mode's pipeline from it (`from_pipe`, with `dtype=` against
diffusers issue 12754), and its runners go through the same engine machinery: the fair queue, a fresh scheduler per
call, cancel between steps, progress, per-picture CPU generators, PNG metadata, batching, OOM retries.

| module | pipelines | text encoder | translation |
|---|---|---|---|
| sd (sd15, sdxl) | StableDiffusion(XL) + IP-Adapter, T2I-Adapter/ControlNet | CLIP (English) | yes |
| flux2_klein | Flux2KleinPipeline (text, reference pictures), Flux2KleinInpaintPipeline | Qwen3 | no |
| kandinsky5 | Kandinsky5T2IPipeline, Kandinsky5I2IPipeline | Qwen2.5-VL + CLIP | no |
| qwen_image | QwenImage, ...Img2Img, ...Inpaint, ...EditPlus, ...ControlNet | Qwen2.5-VL | no |
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..api import Mode


@dataclass(frozen=True)
class Defaults:
    """What the family's own model card recommends, used where ENGINE_QUALITY_*/ENGINE_FAST_* are not set."""

    quality_steps: int
    quality_guidance: float
    fast_steps: int
    fast_guidance: float
    native: int = 1024  # square size in pixels the model was trained at


@dataclass(frozen=True)
class Family:
    """One model family: how it loads (`load(models, settings)` fills a Models' pipelines) and its runners."""

    name: str
    pipelines: tuple[str, ...]  # the model_index.json `_class_name`s that mean this family
    multilingual: bool  # the text encoder reads Russian as typed: no translation step
    defaults: Defaults
    load: Callable[..., Any]
    runners: dict[Mode, Callable] = field(default_factory=dict)
    batchable: frozenset[Mode] = frozenset({Mode.GENERATE, Mode.RESTYLE})
    # Why each mode the family cannot do is missing (the README's family table says the same).
    gaps: dict[Mode, str] = field(default_factory=dict)
    available: Callable[[Mode, Any], bool] = lambda mode, models: True


def registry() -> dict[str, Family]:
    from . import flux2_klein, kandinsky5, qwen_image, sd

    return {
        family.name: family for family in (sd.SD15, sd.SDXL, flux2_klein.FAMILY, kandinsky5.FAMILY, qwen_image.FAMILY)
    }


class UnknownFamily(ValueError):
    """The model folder names a pipeline no family module knows, or ENGINE_FAMILY names no family."""


def detect(model: str, override: str = "") -> Family | None:
    """The family of a model folder from its model_index.json, or ENGINE_FAMILY; None = let the SD loader tell
    SD1.5 from SDXL after loading (hub ids, single files)."""
    families = registry()
    if override:
        if override not in families:
            raise UnknownFamily(f"ENGINE_FAMILY={override!r}: one of {', '.join(families)}")
        return families[override]
    local = Path(model) / "model_index.json"
    index = local if local.is_file() else _cached_index(model)
    if index is None:
        return None
    class_name = json.loads(index.read_text()).get("_class_name", "")
    for family in families.values():
        if class_name in family.pipelines:
            return family
    raise UnknownFamily(f"{model}: no engine family runs {class_name!r} (set ENGINE_FAMILY to force one)")


def _cached_index(model: str) -> Path | None:
    """model_index.json of a hub id: from the cache, or (hub on) fetched, a few hundred bytes before the weights."""
    if Path(model).exists() or model.count("/") != 1:
        return None
    from huggingface_hub import constants, hf_hub_download

    try:
        return Path(hf_hub_download(model, "model_index.json", local_files_only=constants.HF_HUB_OFFLINE))
    except Exception:  # no index (a single-file repo) or unreachable: the SD loader tries, and says what failed
        return None
