"""Edit a picture by instruction ("make it night", "сделай кота чёрным"), for the SD1.5/SDXL families.

These families have no instruction-following edit model, so the instruction is merged into the picture's own
prompt (instruction first: CLIP keeps the first 77 tokens, and the newest wish matters most) and the picture goes
through img2img at EDIT_STRENGTH. An edit of an edit carries the earlier instruction in its prompt, so the chain
of changes stays. Families that edit from a reference (FLUX.2 klein `image=[...]`, Qwen-Image-Edit, Kandinsky 5
I2I) record the same chain but pass the instruction alone to their edit pipeline (engine/families/).
"""

from __future__ import annotations

from PIL import Image

from .. import prompts
from ..api import one_line
from . import vary

# Denoise of the img2img fallback: at 0.5 "make it night" barely shows, at 0.75 the composition starts to go.
EDIT_STRENGTH = 0.62


def merged_prompt(instruction: str, base: str) -> str:
    """The instruction before the picture's prompt, one line; either may be empty."""
    return ", ".join(part for part in (one_line(instruction), one_line(base)) if part)


def apply_instruction(studio, plan) -> str:
    """The plan's prompt becomes instruction + its prompt, styled again: the files record the chain of changes (a
    reroll of an edit draws it again), and the instruction itself (Parameters.instruction). Returns the
    instruction as the text encoder should read it: translated to English unless the family reads Russian."""
    instruction = one_line(plan.request.instruction)
    if instruction and not getattr(studio.models.spec, "multilingual", False):
        instruction = prompts.translate(studio.models, studio.settings, instruction, plan.seeds[0])
    plan.prompt = merged_prompt(instruction, plan.prompt)
    plan.styled_prompt, plan.negative_prompt = plan.style.apply(plan.prompt, plan.request.negative_prompt)
    return instruction


def run(studio, plans, hooks) -> list[list[Image.Image]]:
    results = []
    for plan in plans:
        apply_instruction(studio, plan)
        strength = plan.request.strength or EDIT_STRENGTH
        results.append(vary.img2img(studio, plan, hooks, plan.sources[0], strength))
    return results
