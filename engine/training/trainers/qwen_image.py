"""Qwen-Image: latents as QwenImagePipeline works in them (the video VAE's mean of a one-frame clip, normalised by
the VAE's latents_mean/latents_std), packed into 2x2 patches, the Qwen2.5-VL text as the pipeline encodes it.

--blocks: early, middle, late: thirds of transformer_blocks (one stack of dual-stream blocks: no kinds to choose
from, only the depth, as SD's down/mid/up), each block's attention projections of both streams.
"""

from __future__ import annotations

from typing import Any

from .flow import FlowMatching

PROJECTIONS = r"(to_q|to_k|to_v|to_out\.0|add_q_proj|add_k_proj|add_v_proj|to_add_out)"


class QwenImage(FlowMatching):
    pipeline = "QwenImagePipeline"

    def encode_picture(self, pipe: Any, pixels: Any) -> Any:
        import torch

        config = pipe.vae.config
        latents = pipe.vae.encode(pixels[:, :, None]).latent_dist.mode()[:, :, 0]  # [1, C, 1 frame, h, w]
        mean = torch.tensor(config.latents_mean, device=latents.device).view(1, -1, 1, 1)
        std = torch.tensor(config.latents_std, device=latents.device).view(1, -1, 1, 1)
        return (latents - mean) / std

    def encode_text(self, pipe: Any, captions: list[str], size: int, job: Any, settings: Any) -> Any:
        """Per caption [L, D], each at its own length (a batch pads them and masks the padding, as the pipeline)."""
        import torch

        tokens = self.text_tokens(settings)
        with torch.no_grad():
            return [pipe.encode_prompt(c, device=pipe.device, max_sequence_length=tokens)[0][0] for c in captions]

    def lora_targets(self, denoiser: Any, blocks: tuple[str, ...]) -> str:
        from ..style import TrainingError

        layers = denoiser.config.num_layers
        thirds = {name: range(layers * i // 3, layers * (i + 1) // 3) for i, name in enumerate(self.blocks)}
        chosen = [str(n) for name in blocks for n in thirds[name]]
        if not chosen:
            raise TrainingError(f"--blocks {','.join(blocks)}: this model has {layers} blocks, none in that part")
        return rf"^transformer_blocks\.({'|'.join(chosen)})\.attn\.{PROJECTIONS}$"

    def mu(self, config: Any, tokens: int, settings: Any) -> float | None:
        from diffusers.pipelines.qwenimage.pipeline_qwenimage import calculate_shift

        return float(
            calculate_shift(
                tokens,
                config.get("base_image_seq_len", 256),
                config.get("max_image_seq_len", 4096),
                config.get("base_shift", 0.5),
                config.get("max_shift", 1.15),
            )
        )

    def predict(self, run: Any, xt: Any, sigma: Any, pick: Any) -> Any:
        import torch

        pipe = run.pipe
        texts = [run.text[n] for n in pick.tolist()]
        longest = max(len(text) for text in texts)
        embeds = torch.stack([torch.cat([t, t.new_zeros(longest - len(t), t.shape[1])]) for t in texts])
        mask = torch.stack([torch.arange(longest, device=xt.device) < len(t) for t in texts])
        batch, channels, height, width = xt.shape
        velocity = pipe.transformer(
            hidden_states=pipe._pack_latents(xt, batch, channels, height, width),
            timestep=sigma.to(xt.dtype),  # the pipeline passes t / 1000: the sigma
            guidance=None,
            encoder_hidden_states=embeds,
            encoder_hidden_states_mask=None if mask.all() else mask,
            img_shapes=[[(1, height // 2, width // 2)]] * batch,
            return_dict=False,
        )[0]
        scale = pipe.vae_scale_factor
        return pipe._unpack_latents(velocity, height * scale, width * scale, scale)[:, :, 0]


def trainer(family: str) -> QwenImage:
    return QwenImage(family)
