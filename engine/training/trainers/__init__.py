"""How each model family trains a brand style's LoRA: one small module per family, read by engine/training/style.py.

| family | denoiser | objective (as its diffusers pipeline samples) | --blocks | the LoRA's layers |
|---|---|---|---|---|
| sd15, sdxl | UNet | noise (or v) prediction on the DDPM schedule | down, mid, up | attention to_q/k/v/out |
| flux2_klein | Flux2Transformer2DModel | rectified flow: velocity noise - picture | double, single | all attention |
| kandinsky5 | Kandinsky5Transformer3DModel | rectified flow | text, visual | attention query/key/value/out |
| qwen_image | QwenImageTransformer2DModel | rectified flow | early, middle, late (thirds) | both streams' attention |

Only SD1.5 also learns a textual-inversion embedding (--embedding); the others refuse it. This package imports no
torch until a trainer is asked for: the engine's service reads FAMILIES at start-up.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import Trainer

# family -> (module, the names --blocks takes, in the family's order)
FAMILIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "sd15": ("sd", ("down", "mid", "up")),
    "sdxl": ("sd", ("down", "mid", "up")),
    "flux2_klein": ("flux2_klein", ("double", "single")),
    "kandinsky5": ("kandinsky5", ("text", "visual")),
    "qwen_image": ("qwen_image", ("early", "middle", "late")),
}


def blocks_of(family: str) -> tuple[str, ...]:
    return FAMILIES[family][1]


def trainer_for(family: str) -> Trainer:
    """The trainer of `family` (a key of FAMILIES)."""
    trainer: Trainer = import_module(f".{FAMILIES[family][0]}", __name__).trainer(family)
    return trainer
