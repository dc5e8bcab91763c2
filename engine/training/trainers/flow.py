"""Rectified flow, the objective of the transformer families (FLUX.2 klein, Kandinsky 5, Qwen-Image).

Their pipelines sample with FlowMatchEulerDiscreteScheduler: from noise at sigma 1 to the picture at sigma 0, each
step `x + (sigma_next - sigma) * v` with v the transformer's output. So the transformer predicts the velocity
v = noise - x0 of the straight path x_sigma = (1 - sigma) * x0 + sigma * noise, and that is the target here.

Noise levels: a step draws one where the family's sampler spends its steps at the training size. klein and
Qwen-Image shift their schedule towards noise by an amount that grows with the picture's token count (the pipeline
computes `mu` from it: klein's compute_empirical_mu, Qwen-Image's calculate_shift; the scheduler applies
time_shift(mu)); Kandinsky 5 uses a static shift. So `schedule` sets the family's scheduler for LEVELS steps with
that `mu`, and a step draws uniformly from those levels: u uniform, then the sampler's own shift. At 1024² this puts
about two thirds of the steps above sigma 0.5 on Qwen-Image, where uniform levels (the scheduler's training sigmas)
put half, under-training the high-noise steps that lay the picture out. (diffusers' SD3/FLUX scripts offer
logit-normal or mode weighting instead, training_utils.compute_density_for_timestep_sampling; matching the sampler
needs no extra knob.)

Latents are kept as [N, C, h, w] in each family's normalised space (what the pipeline's denoising loop works in),
in fp32; a family's `predict` casts the noisy latents and the timestep to the transformer's dtype (bf16 on a GPU),
packs them the way its pipeline does, calls the transformer and unpacks the velocity.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .base import Trainer

TEXT_TOKENS = 512  # the pipelines' own max_sequence_length, where ENGINE_TEXT_TOKENS is not set
LEVELS = 1000  # the noise levels a step draws from: the sampler's schedule at this many steps


class FlowMatching(Trainer):
    multiple = 16  # VAE x8, then 2x2 patches
    pipeline = ""  # the diffusers class name of the family's text-to-image pipeline

    def load(self, model: str, dtype: Any) -> Any:
        import diffusers

        from ...models import check_model_source

        check_model_source(model)
        return getattr(diffusers, self.pipeline).from_pretrained(model, dtype=dtype)

    def native(self, pipe: Any, settings: Any) -> int:
        from ...families import registry

        return int(settings.native_size or registry()[self.family].defaults.native)

    def text_tokens(self, settings: Any) -> int:
        """Captions are cut where the engine's calls cut prompts (ENGINE_TEXT_TOKENS, the tiny kits' 64)."""
        return int(settings.text_tokens or TEXT_TOKENS)

    def release(self, pipe: Any) -> None:
        # Qwen-Image's and Kandinsky 5's text encoder is a 7B Qwen2.5-VL, klein's a 4B Qwen3: as large as the
        # transformer, and never needed again once the captions are encoded.
        for name in ("vae", "text_encoder", "text_encoder_2"):
            if getattr(pipe, name, None) is not None:
                setattr(pipe, name, None)

    def denoiser(self, pipe: Any) -> Any:
        return pipe.transformer

    def schedule(self, pipe: Any, size: int, settings: Any) -> Any:
        """The LEVELS noise levels (1 down to near 0) the family's sampler steps through at `size` pixels square."""
        import numpy as np
        from diffusers import FlowMatchEulerDiscreteScheduler

        scheduler = FlowMatchEulerDiscreteScheduler.from_config(pipe.scheduler.config)
        tokens = (size // self.multiple) ** 2  # the packed picture's sequence length, as the pipeline counts it
        scheduler.set_timesteps(
            sigmas=np.linspace(1.0, 1 / LEVELS, LEVELS), mu=self.mu(scheduler.config, tokens, settings)
        )
        return scheduler.sigmas[:-1]  # the last is the finished picture's 0

    def mu(self, config: Any, tokens: int, settings: Any) -> float | None:
        """The resolution-dependent shift the pipeline passes its scheduler for a picture of `tokens` tokens; None
        where the family's scheduler shifts by a fixed amount (Kandinsky 5)."""
        return None

    def loss(self, run: Any, pick: Any) -> Any:
        import torch

        x0 = run.latents[pick]
        batch, channels = x0.shape[:2]
        noise = torch.randn_like(x0) + run.job.noise_offset * torch.randn(batch, channels, 1, 1, device=x0.device)
        sigma = run.schedule[torch.randint(0, len(run.schedule), (batch,))].to(x0.device)
        s = sigma.view(-1, 1, 1, 1)
        xt = (1 - s) * x0 + s * noise
        predicted = self.predict(run, xt.to(run.dtype), sigma, pick)
        return torch.nn.functional.mse_loss(predicted.float(), (noise - x0).float())

    def predict(self, run: Any, xt: Any, sigma: Any, pick: Any) -> Any:
        """The transformer's velocity for the noisy latents `xt` ([B, C, h, w], in the transformer's dtype) at noise
        levels `sigma` ([B], fp32), conditioned on the captions of the pictures `pick`; [B, C, h, w]."""
        raise NotImplementedError

    def save(self, run: Any, lora_dir: Path) -> tuple[Path, Path | None]:
        from peft.utils import get_peft_model_state_dict

        weight_name = f"{run.job.name}.safetensors"
        layers = get_peft_model_state_dict(run.pipe.transformer)
        type(run.pipe).save_lora_weights(lora_dir, transformer_lora_layers=layers, weight_name=weight_name)
        return lora_dir / weight_name, None


def attention_layers(blocks: dict[str, str], chosen: tuple[str, ...]) -> str:
    """One expression for the chosen blocks' layers: `blocks` maps a --blocks name to its layers' expression."""
    return rf"^({'|'.join(blocks[name] for name in chosen)})$"
