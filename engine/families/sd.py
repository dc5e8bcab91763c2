"""Stable Diffusion 1.5 and SDXL: the engine's first families, every mode (engine/modes/ holds their runners).

text2img from the folder (AutoPipelineForText2Image), img2img and inpaint derived with AutoPipeline*.from_pipe on
the shared UNet; IP-Adapter for image prompts, T2I-Adapter/ControlNet for outlines, a tiled UNet pass for 4K.
The CLIP encoders read English only: Russian prompts are translated first (engine/prompts.py).
"""

from __future__ import annotations

from typing import Any

from ..api import Mode
from . import Defaults, Family


def _load(*args: Any) -> Any:
    from ..models import load_sd

    return load_sd(*args)


def _available(mode: Mode, models: Any) -> bool:
    from ..modes import available

    return available(mode, models)


def _runners() -> dict:
    """engine.modes.RUNNERS itself (not a copy): one table of the SD runners, whoever reads it."""
    from ..modes import RUNNERS

    return RUNNERS


SD_DEFAULTS = Defaults(quality_steps=30, quality_guidance=6.0, fast_steps=6, fast_guidance=1.5, native=512)

SD15 = Family(
    name="sd15",
    pipelines=("StableDiffusionPipeline",),
    multilingual=False,
    defaults=SD_DEFAULTS,
    load=_load,
    runners=_runners(),
    available=_available,
)
SDXL = Family(
    name="sdxl",
    pipelines=("StableDiffusionXLPipeline",),
    multilingual=False,
    defaults=Defaults(quality_steps=30, quality_guidance=6.0, fast_steps=6, fast_guidance=1.5, native=1024),
    load=_load,
    runners=_runners(),
    available=_available,
)
