"""Kandinsky 5: latents as Kandinsky5T2IPipeline works in them (the VAE's mean times its scaling factor; the
transformer reads one frame, channels last), the Qwen2.5-VL text and the CLIP pooled text as the pipeline encodes them.

--blocks: text (text_transformer_blocks: the text encoder blocks inside the transformer, their self-attention) and
visual (visual_transformer_blocks: the picture's self-attention and its cross-attention to the text).
"""

from __future__ import annotations

from typing import Any

from .flow import FlowMatching, attention_layers

PROJECTIONS = r"(to_query|to_key|to_value|out_layer)"
BLOCKS = {
    "text": rf"text_transformer_blocks\.\d+\.self_attention\.{PROJECTIONS}",
    "visual": rf"visual_transformer_blocks\.\d+\.(self_attention|cross_attention)\.{PROJECTIONS}",
}


class Kandinsky5(FlowMatching):
    pipeline = "Kandinsky5T2IPipeline"

    def load(self, model: str, dtype: Any) -> Any:
        from ...families import processors  # noqa: F401  (a folder's tokenizer may name it: it must be imported first)

        return super().load(model, dtype)

    def encode_picture(self, pipe: Any, pixels: Any) -> Any:
        return pipe.vae.encode(pixels).latent_dist.mode() * pipe.vae.config.scaling_factor

    def encode_text(self, pipe: Any, captions: list[str], size: int, job: Any, settings: Any) -> Any:
        """Per caption (Qwen text [L, D], CLIP pooled [D2]), each at its own length, as a single prompt is encoded."""
        import torch

        tokens = self.text_tokens(settings)
        encoded = []
        with torch.no_grad():
            for caption in captions:
                text, pooled, _ = pipe.encode_prompt(caption, max_sequence_length=tokens, device=pipe.device)
                encoded.append((text[0], pooled[0]))
        return encoded

    def lora_targets(self, denoiser: Any, blocks: tuple[str, ...]) -> str:
        return attention_layers(BLOCKS, blocks)

    def predict(self, run: Any, xt: Any, sigma: Any, pick: Any) -> Any:
        """One transformer call per picture: it attends over the whole text with no mask, so captions of different
        lengths cannot share a call without padding the model would read."""
        import torch

        height, width = xt.shape[2:]
        frames = xt.permute(0, 2, 3, 1).unsqueeze(1)  # [B, 1 frame, h, w, C]
        timesteps = (sigma * run.pipe.scheduler.config.num_train_timesteps).to(xt.dtype)  # the pipeline passes its t
        positions = [torch.arange(side, device=xt.device) for side in (1, height // 2, width // 2)]  # 2x2 patches
        velocities = []
        for i, n in enumerate(pick.tolist()):
            text, pooled = run.text[n]
            out = run.pipe.transformer(
                hidden_states=frames[i : i + 1],
                encoder_hidden_states=text[None],
                pooled_projections=pooled[None],
                timestep=timesteps[i : i + 1],
                visual_rope_pos=positions,
                text_rope_pos=torch.arange(len(text), device=xt.device),
                scale_factor=[1.0, 1.0, 1.0],
                sparse_params=None,
            ).sample
            velocities.append(out[:, 0].permute(0, 3, 1, 2))
        return torch.cat(velocities)


def trainer(family: str) -> Kandinsky5:
    return Kandinsky5(family)
