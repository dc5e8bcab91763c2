"""Samplers by short name, as a style names them (`scheduler: dpmpp_2m_karras`): each is a diffusers scheduler
class plus the config changes that make it that sampler, built from the loaded model's own scheduler config (its
noise schedule, prediction type and timestep spacing stay the model's)."""

from __future__ import annotations

from typing import Any

# short name -> (diffusers class, config overrides)
SAMPLERS: dict[str, tuple[str, dict[str, Any]]] = {
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}),
    "dpmpp_2m": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "dpmpp_2m_karras": (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_karras_sigmas": True},
    ),
    "dpmpp_2m_sde_karras": (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "sde-dpmsolver++", "solver_order": 2, "use_karras_sigmas": True},
    ),
    "unipc": ("UniPCMultistepScheduler", {}),
    "ddim": ("DDIMScheduler", {}),
    "heun": ("HeunDiscreteScheduler", {}),
    "lcm": ("LCMScheduler", {}),
}


class UnknownSampler(ValueError):
    pass


def check(name: str) -> str:
    if name not in SAMPLERS:
        raise UnknownSampler(f"unknown scheduler {name!r}; known: {', '.join(SAMPLERS)}")
    return name


def flow_matching(scheduler_class: type) -> bool:
    """A flow-matching scheduler (FLUX.2, Kandinsky 5, Qwen-Image): sigmas from 1 to 0, not an SD noise schedule.
    Such a model cannot run the named samplers (a style's is then ignored, so one styles file serves every family)."""
    return scheduler_class.__name__.startswith("FlowMatch")


def make(name: str, base_config: dict) -> Any:
    """A fresh scheduler `name` over the model's scheduler config (its noise schedule and prediction type)."""
    import diffusers

    cls_name, overrides = SAMPLERS[check(name)]
    return getattr(diffusers, cls_name).from_config({**base_config, **overrides})
