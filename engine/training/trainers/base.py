"""What engine/training/style.py asks of a family's trainer: the model loaded, pictures and captions encoded once,
the LoRA placed, one step's loss, the adapter written in the format the family's pipeline loads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import blocks_of


class Trainer:
    """One family's way to train a style. `run` below is engine/training/style.Run: the job, the pipeline, the
    encoded pictures (`run.latents`, [N, C, h, w]), the encoded captions (`run.text`) and `run.schedule`."""

    multiple = 8  # --resolution must be a multiple of this (the VAE's factor, times the patch size)

    def __init__(self, family: str) -> None:
        self.family = family
        self.blocks = blocks_of(family)

    # ---- before any model is loaded ------------------------------------------------------------------------------
    def refuse(self, job: Any) -> None:
        """Raise TrainingError for an option this family cannot train (default: the textual inversion)."""
        from ..style import TrainingError

        if job.embedding:
            raise TrainingError(
                f"--embedding: textual inversion is for the SD1.5 family only; {self.family} reads the trigger word "
                "through its own text encoder: leave --embedding out (the trigger still goes into every caption)"
            )

    # ---- setting a run up ----------------------------------------------------------------------------------------
    def load(self, model: str, dtype: Any) -> Any:
        """The family's text-to-image pipeline with its weights in `dtype` (the engine's serving dtype)."""
        raise NotImplementedError

    def native(self, pipe: Any, settings: Any) -> int:
        """The square size in pixels to train at when --resolution is not given."""
        raise NotImplementedError

    def encode_picture(self, pipe: Any, pixels: Any) -> Any:
        """One picture ([1, 3, H, W] in -1..1) as the latents the denoiser is trained on, [1, C, h, w]."""
        raise NotImplementedError

    def encode_text(self, pipe: Any, captions: list[str], size: int, job: Any, settings: Any) -> Any:
        """The captions encoded once, as the pipeline encodes a prompt (`settings`: the model's, with the kit's)."""
        raise NotImplementedError

    def release(self, pipe: Any) -> None:
        """Drop what the steps no longer need (the VAE, text encoders) so a step holds the denoiser alone."""

    def denoiser(self, pipe: Any) -> Any:
        raise NotImplementedError

    def lora_targets(self, denoiser: Any, blocks: tuple[str, ...]) -> str:
        """A regular expression of the denoiser's layers the LoRA adapts, within the chosen blocks."""
        raise NotImplementedError

    def extra_parameters(self, run: Any) -> list:
        """Trained beside the LoRA (SD1.5's token embedding)."""
        return []

    def schedule(self, pipe: Any, size: int, settings: Any) -> Any:
        """What a step draws its noise levels from, training at `size` pixels square (`settings`: the model's)."""
        raise NotImplementedError

    # ---- a step --------------------------------------------------------------------------------------------------
    def loss(self, run: Any, pick: Any) -> Any:
        """The loss of one batch: the pictures `pick` (indices into run.latents) noised, and the denoiser's error.
        The latents and the noise are fp32; the denoiser's inputs are cast to its weights' dtype (`run.dtype`)."""
        raise NotImplementedError

    def after_step(self, run: Any) -> None:
        """Called after each optimiser step."""

    # ---- checkpoints and the result ------------------------------------------------------------------------------
    def state(self, run: Any) -> dict:
        """What a checkpoint keeps besides the LoRA, the optimiser and the random state."""
        return {}

    def restore(self, run: Any, state: dict) -> None:
        """Undo `state` on resume."""

    def save(self, run: Any, lora_dir: Path) -> tuple[Path, Path | None]:
        """The adapter (and embedding) files, in the format the family's pipeline loads with load_lora_weights."""
        raise NotImplementedError
