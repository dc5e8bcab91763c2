"""FLUX.2 klein: latents as Flux2KleinPipeline works in them (the VAE's mean, 2x2 patches, normalised by the VAE's
batch-norm statistics), packed into a sequence with 4-D position ids, the Qwen3 text as the pipeline encodes it.

--blocks: double (transformer_blocks: text and picture streams apart, every attention projection of both) and
single (single_transformer_blocks: one joined stream, its fused qkv+MLP input and its output projection).
"""

from __future__ import annotations

from typing import Any

from .flow import FlowMatching, attention_layers

BLOCKS = {
    "double": r"transformer_blocks\.\d+\.attn\.(to_q|to_k|to_v|to_out\.0|add_q_proj|add_k_proj|add_v_proj|to_add_out)",
    "single": r"single_transformer_blocks\.\d+\.attn\.(to_qkv_mlp_proj|to_out)",
}


class Flux2Klein(FlowMatching):
    pipeline = "Flux2KleinPipeline"

    def encode_picture(self, pipe: Any, pixels: Any) -> Any:
        import torch

        patches = pipe._patchify_latents(pipe.vae.encode(pixels).latent_dist.mode())
        mean = pipe.vae.bn.running_mean.view(1, -1, 1, 1)
        std = torch.sqrt(pipe.vae.bn.running_var.view(1, -1, 1, 1) + pipe.vae.config.batch_norm_eps)
        return (patches - mean) / std

    def encode_text(self, pipe: Any, captions: list[str], size: int, job: Any, settings: Any) -> Any:
        """[N, L, D]: every caption padded to the same length, as the pipeline pads a prompt."""
        import torch

        tokens = self.text_tokens(settings)
        with torch.no_grad():
            return torch.cat(
                [pipe.encode_prompt(c, device=pipe.device, max_sequence_length=tokens)[0] for c in captions]
            )

    def lora_targets(self, denoiser: Any, blocks: tuple[str, ...]) -> str:
        return attention_layers(BLOCKS, blocks)

    def mu(self, config: Any, tokens: int, settings: Any) -> float | None:
        """klein's empirical shift depends on the step count too: the family's quality steps (4, distilled)."""
        from diffusers.pipelines.flux2.pipeline_flux2_klein import compute_empirical_mu

        from ...families import registry

        steps = settings.quality_steps or registry()[self.family].defaults.quality_steps
        return compute_empirical_mu(image_seq_len=tokens, num_steps=steps)

    def predict(self, run: Any, xt: Any, sigma: Any, pick: Any) -> Any:
        pipe = run.pipe
        embeds = run.text[pick]
        ids = pipe._prepare_latent_ids(xt).to(xt.device)
        velocity = pipe.transformer(
            hidden_states=pipe._pack_latents(xt),
            timestep=sigma.to(xt.dtype),  # the pipeline passes t / 1000: the sigma
            guidance=None,
            encoder_hidden_states=embeds,
            txt_ids=pipe._prepare_text_ids(embeds).to(xt.device),
            img_ids=ids,
            return_dict=False,
        )[0]
        return pipe._unpack_latents_with_ids(velocity, ids, xt.shape[2], xt.shape[3])


def trainer(family: str) -> Flux2Klein:
    return Flux2Klein(family)
