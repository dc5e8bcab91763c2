"""The upscale's diffusion pass (MultiDiffusion): low-strength img2img over a big picture, window by window.

VAE-encode the picture tile by tile; noise the latent to the refinement strength; at every step run the shared
UNet over overlapping native-size windows of the whole latent and blend their noise predictions with weights,
then take one scheduler step on the whole latent (the windows agree at every step: no seams); VAE-decode tile by
tile. Each model call sees at most `tile`^2 pixels: one VAE tile, or a batch of UNet windows of that total area.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import cast

import numpy as np
import torch
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image

from ..tiles import Window, grid, map_tiles
from .vary import denoise_steps

WINDOW_OVERLAP = 4  # UNet windows overlap by a quarter of their size
VAE_OVERLAP = 8  # VAE tiles overlap by an eighth

Progress = Callable[[int, int], None]


def to_uint8(rows: torch.Tensor, low: float, high: float) -> np.ndarray:
    """[3, n, W] floats in low..high -> [n, W, 3] uint8."""
    scaled = (rows.float() - low).mul_(255 / (high - low)).clamp_(0, 255).round_()
    return scaled.to(torch.uint8).permute(1, 2, 0).cpu().numpy()


@contextmanager
def vae_for_tiles(vae) -> Iterator[torch.dtype]:
    """Our own tiles: diffusers' VAE tiling off (it would tile again inside them); an fp16 VAE that overflows
    (SDXL's: config.force_upcast) runs in fp32 for the pass, as the SDXL pipelines do."""
    tiling = getattr(vae, "use_tiling", False)
    upcast = vae.dtype == torch.float16 and getattr(vae.config, "force_upcast", False)
    vae.use_tiling = False
    if upcast:
        vae.to(torch.float32)
    try:
        yield vae.dtype
    finally:
        vae.use_tiling = tiling
        if upcast:
            vae.to(torch.float16)


class Refiner:
    """Refines pictures of size `work` (multiples of models.multiple) at `strength`; `units` = progress steps."""

    def __init__(self, studio, plan, hooks, work: tuple[int, int], tile: int, strength: float) -> None:
        models = studio.models
        self.studio, self.plan, self.hooks = studio, plan, hooks
        self.pipe = models.text2img
        self.vae = self.pipe.vae
        self.factor = f = 2 ** (len(self.vae.config.block_out_channels) - 1)
        self.width, self.height = work
        self.tile = max(f, tile // f * f)  # VAE tile, pixels
        self.steps, self.runs = denoise_steps(plan.steps, strength)
        lat_h, lat_w = self.height // f, self.width // f
        align = max(1, models.multiple // f)  # what the UNet's down-samplings need
        window = max(align, min(self.tile, models.native) // f // align * align)  # native-size windows
        self.windows = grid(lat_h, lat_w, window, max(1, window // WINDOW_OVERLAP), align)
        self.window_batch = max(1, (self.tile // f // window) ** 2)  # windows per UNet call: <= tile^2 pixels
        self.encode_windows = grid(lat_h, lat_w, self.tile // f, self.tile // f // VAE_OVERLAP)
        self.decode_windows = grid(self.height, self.width, self.tile, self.tile // VAE_OVERLAP, align=f)
        batches = math.ceil(len(self.windows) / self.window_batch)
        self.units = len(self.encode_windows) + self.runs * batches + len(self.decode_windows)

    def refine(self, picture: Image.Image, stage: Callable[[], Progress]) -> Image.Image | None:
        """The refined picture, or None when the job was cancelled. `stage()` gives each stage its progress."""
        with vae_for_tiles(self.vae) as self.vae_dtype:
            latents = self.encode(picture, stage())
            if latents is not None:
                latents = self.denoise(latents, stage)
            pixels = self.decode(latents, stage()) if latents is not None else None
        return None if pixels is None else Image.fromarray(pixels)

    # ---- VAE, tile by tile ------------------------------------------------------------------------------------
    def _latent_scale(self) -> tuple[float, float]:
        config = self.vae.config
        return config.scaling_factor, getattr(config, "shift_factor", None) or 0.0

    def encode(self, picture: Image.Image, progress: Progress) -> torch.Tensor | None:
        device, f = self.studio.models.device, self.factor
        pixels = torch.from_numpy(np.array(picture)).permute(2, 0, 1)  # uint8 [3, H, W]
        latent = torch.empty(1, self.vae.config.latent_channels, self.height // f, self.width // f)

        def read(window: Window) -> torch.Tensor:
            return window.scaled(f).of(pixels)[None].to(device, self.vae_dtype).div_(127.5).sub_(1)

        def model(batch: torch.Tensor, _: list[Window]) -> torch.Tensor:
            return self.vae.encode(batch).latent_dist.mode()

        def emit(y: int, rows: torch.Tensor) -> None:
            latent[0, :, y : y + rows.shape[1]] = rows.cpu()

        done = map_tiles(
            self.encode_windows,
            read,
            model,
            emit,
            channels=latent.shape[1],
            height=latent.shape[2],
            width=latent.shape[3],
            fade=max(1, self.tile // f // VAE_OVERLAP),
            stop=self.hooks.interrupted,
            progress=progress,
        )
        scale, shift = self._latent_scale()
        return (latent - shift) * scale if done else None

    def decode(self, latents: torch.Tensor, progress: Progress) -> np.ndarray | None:
        device, f = self.studio.models.device, self.factor
        scale, shift = self._latent_scale()
        z = latents / scale + shift
        out = np.empty((self.height, self.width, 3), np.uint8)

        def read(window: Window) -> torch.Tensor:
            return window.scaled(1 / f).of(z).to(device, self.vae_dtype)

        def model(batch: torch.Tensor, _: list[Window]) -> torch.Tensor:
            return self.vae.decode(batch).sample

        def emit(y: int, rows: torch.Tensor) -> None:
            out[y : y + rows.shape[1]] = to_uint8(rows, -1.0, 1.0)

        done = map_tiles(
            self.decode_windows,
            read,
            model,
            emit,
            channels=3,
            height=self.height,
            width=self.width,
            fade=max(1, self.tile // VAE_OVERLAP),
            stop=self.hooks.interrupted,
            progress=progress,
        )
        return out if done else None

    # ---- UNet over windows, blended at every step -------------------------------------------------------------
    def denoise(self, latents: torch.Tensor, stage: Callable[[], Progress]) -> torch.Tensor | None:
        studio, plan, pipe = self.studio, self.plan, self.pipe
        models = studio.models
        device, dtype = models.device, models.dtype
        studio.use_style_adapters(pipe, plan.style, plan.fast_lora)
        # One of our own: sibling pipelines share one scheduler object, and it keeps per-call step state.
        scheduler = studio.new_scheduler(pipe, fast_lora=plan.fast_lora)
        scheduler.set_timesteps(self.steps, device=device)
        start = (self.steps - self.runs) * scheduler.order  # img2img: only the last `runs` steps
        timesteps = scheduler.timesteps[start:]
        if hasattr(scheduler, "set_begin_index"):
            scheduler.set_begin_index(start)
        generator = torch.Generator("cpu").manual_seed(plan.seeds[0])
        latents = latents.to(device, dtype)
        noise = randn_tensor(latents.shape, generator=generator, device=device, dtype=dtype)
        latents = scheduler.add_noise(latents, noise, timesteps[:1])
        condition = Conditioning(studio, plan, (self.height, self.width), self.factor)
        for t in timesteps:
            scaled = scheduler.scale_model_input(latents, t)
            prediction = self.predict_noise(scaled, lambda batch, windows, t=t: condition(batch, windows, t), stage())
            if prediction is None:
                return None
            latents = scheduler.step(prediction, t, latents, generator=generator, return_dict=False)[0]
        return latents

    def predict_noise(self, latents: torch.Tensor, unet: Callable, progress: Progress) -> torch.Tensor | None:
        """The noise prediction for the whole latent: the UNet over windows in batches, blended with weights."""
        prediction = torch.empty_like(latents)

        def emit(y: int, rows: torch.Tensor) -> None:
            prediction[0, :, y : y + rows.shape[1]] = rows.to(prediction.dtype)

        done = map_tiles(
            self.windows,
            lambda window: window.of(latents),
            unet,
            emit,
            channels=latents.shape[1],
            height=latents.shape[2],
            width=latents.shape[3],
            fade=max(1, self.windows[0].h // WINDOW_OVERLAP),
            batch=self.window_batch,
            device=latents.device,
            stop=self.hooks.interrupted,
            progress=lambda done, total: progress(math.ceil(done / self.window_batch), 0),
        )
        return prediction if done else None


class Conditioning:
    """The UNet call for a batch of windows: text embeddings with guidance, SDXL's pooled embeddings and size
    ids (each window is a crop of the whole picture), zero image embeddings for a loaded IP-Adapter."""

    def __init__(self, studio, plan, size: tuple[int, int], factor: int) -> None:
        models = studio.models
        pipe = models.text2img
        self.studio, self.pipe, self.unet = studio, pipe, pipe.unet
        self.guidance = plan.guidance
        self.cfg = plan.guidance > 1 and pipe.unet.config.time_cond_proj_dim is None
        self.sdxl = models.family == "sdxl"
        self.size, self.factor = size, factor
        if self.sdxl:
            embeds, negative, pooled, negative_pooled = pipe.encode_prompt(
                prompt=plan.styled_prompt,
                device=models.device,
                num_images_per_prompt=1,
                do_classifier_free_guidance=self.cfg,
                negative_prompt=plan.negative_prompt,
            )
            self.pooled, self.negative_pooled = pooled, negative_pooled
        else:
            embeds, negative = pipe.encode_prompt(
                plan.styled_prompt, models.device, 1, self.cfg, negative_prompt=plan.negative_prompt
            )
        self.embeds, self.negative = embeds, negative

    def _rows(self, positive: torch.Tensor, negative: torch.Tensor | None, count: int) -> torch.Tensor:
        # With guidance (cfg) encode_prompt made the negative too: None only goes with cfg off.
        negatives = [cast(torch.Tensor, negative)] * count if self.cfg else []
        return torch.cat(negatives + [positive] * count)

    def __call__(self, batch: torch.Tensor, windows: list[Window], t) -> torch.Tensor:
        count = batch.shape[0]
        sample = torch.cat([batch, batch]) if self.cfg else batch
        added: dict = {}
        if self.sdxl:
            f, projection = self.factor, self.pipe.text_encoder_2.config.projection_dim
            ids = [
                self.pipe._get_add_time_ids(
                    self.size, (w.y * f, w.x * f), (w.h * f, w.w * f), self.embeds.dtype, projection
                )
                for w in windows
            ]
            time_ids = torch.cat(ids).to(batch.device)
            added["time_ids"] = torch.cat([time_ids, time_ids]) if self.cfg else time_ids
            added["text_embeds"] = self._rows(self.pooled, self.negative_pooled, count)
        timestep_cond = None
        if self.unet.config.time_cond_proj_dim is not None:  # guidance-distilled (LCM) UNets
            w = torch.full((sample.shape[0],), self.guidance - 1.0)
            timestep_cond = self.pipe.get_guidance_scale_embedding(w, self.unet.config.time_cond_proj_dim)
            timestep_cond = timestep_cond.to(batch.device, batch.dtype)
        out = self.unet(
            sample,
            t,
            encoder_hidden_states=self._rows(self.embeds, self.negative, count),
            timestep_cond=timestep_cond,
            added_cond_kwargs=added or None,
            return_dict=False,
        )[0]
        if self.cfg:
            negative, positive = out.chunk(2)
            out = negative + self.guidance * (positive - negative)
        return out
