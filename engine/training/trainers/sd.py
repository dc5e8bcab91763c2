"""SD1.5 and SDXL: the UNet learns to predict the noise (or v) added on the DDPM schedule; on SD1.5 the trigger can
also become a new token whose embedding is learnt (textual inversion, --embedding)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import Trainer

TARGETS = r"(to_q|to_k|to_v|to_out\.0)"
PARTS = {"down": r"down_blocks", "mid": r"mid_block", "up": r"up_blocks"}


@dataclass
class Conditioning:
    prompt_embeds: Any  # [N, 77, D]; unused when an embedding is trained (encoded per step)
    added: dict[str, Any]  # SDXL's pooled text and time ids, per picture
    token_ids: Any = None  # [N, 77] for the textual-inversion run
    token_id: int | None = None  # the trigger's new token
    frozen_embeddings: Any = None  # the vocabulary's embeddings before training: every other row is put back


class StableDiffusion(Trainer):
    def refuse(self, job: Any) -> None:
        from ..style import TrainingError

        if job.embedding and self.family == "sdxl":
            raise TrainingError("--embedding: textual inversion is supported for the SD1.5 family only")

    def load(self, model: str, dtype: Any) -> Any:
        from ...models import _from_pretrained

        return _from_pretrained(model, dtype)

    def native(self, pipe: Any, settings: Any) -> int:
        return int(pipe.unet.config.sample_size) * pipe.vae_scale_factor

    def encode_picture(self, pipe: Any, pixels: Any) -> Any:
        return pipe.vae.encode(pixels).latent_dist.mean * pipe.vae.config.scaling_factor

    def encode_text(self, pipe: Any, captions: list[str], size: int, job: Any, settings: Any) -> Conditioning:
        import torch

        from ..style import TrainingError

        xl = getattr(pipe, "text_encoder_2", None) is not None
        if job.embedding and xl:  # a folder or file whose family shows only once loaded
            raise TrainingError("--embedding: textual inversion is supported for the SD1.5 family only")
        if job.embedding:  # its token's embedding learns: the optimiser's steps need fp32 (CLIP-L: 123M parameters)
            pipe.text_encoder.to(torch.float32)
        token_id = add_token(pipe, job.trigger) if job.embedding else None
        with torch.no_grad():
            if not xl:
                text = Conditioning(pipe.encode_prompt(captions, pipe.device, 1, False)[0], {})
            else:
                embeds, _, pooled, _ = pipe.encode_prompt(
                    captions, device=pipe.device, do_classifier_free_guidance=False
                )
                time_ids = torch.tensor([[size, size, 0, 0, size, size]] * len(captions), dtype=embeds.dtype)
                text = Conditioning(embeds, {"text_embeds": pooled, "time_ids": time_ids.to(pipe.device)})
        if token_id is not None:
            ids = pipe.tokenizer(
                captions, padding="max_length", max_length=pipe.tokenizer.model_max_length, truncation=True
            )
            text.token_ids = torch.tensor(ids.input_ids, device=pipe.device)
            text.token_id = token_id
        return text

    def denoiser(self, pipe: Any) -> Any:
        return pipe.unet

    def lora_targets(self, denoiser: Any, blocks: tuple[str, ...]) -> str:
        return rf"^({'|'.join(PARTS[b] for b in blocks)})\..*\.{TARGETS}$"

    def extra_parameters(self, run: Any) -> list:
        if run.text.token_id is None:
            return []
        embeddings = run.pipe.text_encoder.get_input_embeddings().weight
        embeddings.requires_grad_(True)
        run.text.frozen_embeddings = embeddings.detach().clone()
        return [embeddings]

    def schedule(self, pipe: Any, size: int, settings: Any) -> Any:
        from diffusers import DDPMScheduler

        return DDPMScheduler.from_config(pipe.scheduler.config)

    def loss(self, run: Any, pick: Any) -> Any:
        import torch

        job, pipe, schedule, text = run.job, run.pipe, run.schedule, run.text
        x0 = run.latents[pick]
        noise = torch.randn_like(x0) + job.noise_offset * torch.randn(job.batch, x0.shape[1], 1, 1, device=x0.device)
        t = torch.randint(0, schedule.config.num_train_timesteps, (job.batch,), device=x0.device)
        xt = schedule.add_noise(x0, noise, t)
        embeds = pipe.text_encoder(text.token_ids[pick])[0] if text.token_id is not None else text.prompt_embeds[pick]
        added = {key: value[pick].to(run.dtype) for key, value in text.added.items()} or None
        predicted = pipe.unet(xt.to(run.dtype), t, embeds.to(run.dtype), added_cond_kwargs=added).sample
        target = schedule.get_velocity(x0, noise, t) if schedule.config.prediction_type == "v_prediction" else noise
        return torch.nn.functional.mse_loss(predicted.float(), target.float())

    def after_step(self, run: Any) -> None:
        import torch

        token_id = run.text.token_id
        if token_id is None:
            return
        with torch.no_grad():  # only the new token's row learns
            weights = run.pipe.text_encoder.get_input_embeddings().weight
            keep = torch.arange(len(weights), device=weights.device) != token_id
            weights[keep] = run.text.frozen_embeddings[keep]

    def state(self, run: Any) -> dict:
        token_id = run.text.token_id
        embedding = None if token_id is None else run.pipe.text_encoder.get_input_embeddings().weight[token_id]
        return {"embedding": embedding}

    def restore(self, run: Any, state: dict) -> None:
        import torch

        token_id = run.text.token_id
        if token_id is not None and state.get("embedding") is not None:
            with torch.no_grad():
                run.pipe.text_encoder.get_input_embeddings().weight[token_id] = state["embedding"]

    def save(self, run: Any, lora_dir: Path) -> tuple[Path, Path | None]:
        from diffusers.utils import convert_state_dict_to_diffusers
        from peft.utils import get_peft_model_state_dict
        from safetensors.torch import save_file

        name = run.job.name
        layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(run.pipe.unet))
        type(run.pipe).save_lora_weights(lora_dir, unet_lora_layers=layers, weight_name=f"{name}.safetensors")
        embedding = None
        if run.text.token_id is not None:
            embedding = lora_dir / f"{name}-embedding.safetensors"
            vector = run.pipe.text_encoder.get_input_embeddings().weight[run.text.token_id].detach().cpu().clone()
            save_file({run.job.trigger: vector[None].contiguous()}, str(embedding))
        return lora_dir / f"{name}.safetensors", embedding


def add_token(pipe: Any, token: str) -> int:
    """A new token for textual inversion, its embedding started from the mean of the vocabulary's."""
    import torch

    from ..style import TrainingError

    if pipe.tokenizer.add_tokens(token) != 1:
        raise TrainingError(f"--trigger {token!r} is already a word of the tokenizer; pick a new one, e.g. <{token}>")
    token_id = pipe.tokenizer.convert_tokens_to_ids(token)
    pipe.text_encoder.resize_token_embeddings(len(pipe.tokenizer))
    weights = pipe.text_encoder.get_input_embeddings().weight
    with torch.no_grad():
        weights[token_id] = weights[:-1].mean(0)
    return int(token_id)


def trainer(family: str) -> StableDiffusion:
    return StableDiffusion(family)
