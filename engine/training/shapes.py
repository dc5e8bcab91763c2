"""The tiny-shapes kit: an SD1.5-shaped pipeline trained here, on CPU, on pictures of flat shapes with captions.

`python -m engine.training.shapes --out DIR` reproduces the kit shipped in engine/kits/tiny-shapes (seeded, one
torch thread: the same bytes on the same library versions). Three stages, as Stable Diffusion was trained:

1. a VAE (factor 8, 64 px -> 8 x 8 x 4 latents) on the pictures alone; its scaling factor is 1 / std(latents);
2. the text encoder: the byte-level CLIP of the `tiny` kit with seeded random weights, frozen (a frozen random
   encoder still gives every word its own embedding, as SD's frozen CLIP does), so captions are encoded once;
3. the UNet on the VAE's latents, epsilon prediction with SD1.5's noise schedule, 10 % empty captions so that
   classifier-free guidance works, and offset noise so that flat white or black backgrounds come out flat.

Vocabulary: COLOURS x SHAPES, "a red circle on a white background" and "a red circle" (either background).
"""

from __future__ import annotations

import argparse
import copy
import itertools
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

SIZE = 64
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 160, 60),
    "blue": (30, 60, 220),
    "yellow": (245, 210, 30),
    "white": (255, 255, 255),
    "black": (0, 0, 0),
}
SHAPES = ("circle", "square", "triangle")
BACKGROUNDS = ("white", "black")
KIT = Path(__file__).resolve().parents[1] / "kits" / "tiny-shapes"
CAPTIONER = KIT.parent / "tiny-shapes-captioner"  # /describe for the kit: engine/training/captioner.py
TRANSLATOR = KIT.parent / "tiny-shapes-translator"  # Russian prompts for the kit: engine/training/translator.py
SCALING_PLACEHOLDER = 1.0


def caption(colour: str, shape: str, background: str | None = None) -> str:
    text = f"a {colour} {shape}"
    return f"{text} on a {background} background" if background else text


def draw(colour: str, shape: str, background: str, rng: random.Random, size: int = SIZE) -> Image.Image:
    """A flat `colour` `shape` near the centre of a `background` square, anti-aliased (drawn 4x, box-reduced).

    The shape always covers the central eighth of the picture and leaves a margin of 1/12 free, so a test can
    read the background from the border and the shape's colour from the centre.
    """
    k = 4
    s = size * k
    picture = Image.new("RGB", (s, s), COLOURS[background])
    pen = ImageDraw.Draw(picture)
    cx, cy = (s / 2 + rng.uniform(-0.05, 0.05) * s for _ in range(2))
    r = rng.uniform(0.28, 0.37) * s
    fill = COLOURS[colour]
    if shape == "circle":
        pen.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
    elif shape == "square":
        h = 0.88 * r
        pen.rectangle((cx - h, cy - h, cx + h, cy + h), fill=fill)
    else:
        pen.polygon([(cx, cy - 1.1 * r), (cx + 1.1 * r, cy + 0.75 * r), (cx - 1.1 * r, cy + 0.75 * r)], fill=fill)
    return picture.resize((size, size), Image.Resampling.BOX)


@dataclass
class Sample:
    picture: Image.Image
    colour: str
    shape: str
    background: str


def combinations() -> list[tuple[str, str, str]]:
    return list(itertools.product(COLOURS, SHAPES, BACKGROUNDS))


def dataset(seed: int, per_combination: int) -> list[Sample]:
    rng = random.Random(seed)
    return [Sample(draw(c, s, b, rng), c, s, b) for c, s, b in combinations() for _ in range(per_combination)]


def to_tensor(pictures: list[Image.Image]) -> Any:
    import torch

    array = np.stack([np.asarray(p, dtype=np.float32) for p in pictures]) / 127.5 - 1.0
    return torch.from_numpy(array).permute(0, 3, 1, 2).contiguous()


def new_vae(scaling_factor: float = SCALING_PLACEHOLDER) -> Any:
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        sample_size=SIZE,
        layers_per_block=1,
        block_out_channels=(8, 16, 16, 16),  # 4 levels: SD's downscale factor 8
        # Several channels per group: with one channel per group, GroupNorm wipes out the absolute level of a
        # flat colour and the decoder cannot tell white from black.
        norm_num_groups=2,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        scaling_factor=scaling_factor,
    )


def new_unet() -> Any:
    from diffusers import UNet2DConditionModel

    # Cross-attention in both levels and the middle: colour, shape and background all come from the text.
    return UNet2DConditionModel(
        sample_size=SIZE // 8,
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(32, 64),
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=8,
    )


def train_vae(images: Any, steps: int, batch: int, log: Any) -> Any:
    import torch

    vae = new_vae()
    optimiser = torch.optim.AdamW(vae.parameters(), lr=3e-3, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=3e-3, total_steps=steps, pct_start=0.1)
    vae.train()
    for step in range(steps):
        x = images[torch.randint(0, len(images), (batch,))]
        mean = vae.encode(x).latent_dist.mean
        # The decoder learns to forgive latents a little off (what a UNet gives), whatever scale they settle at;
        # the scale itself is fixed after training by the scaling factor, so no KL term is needed.
        z = mean + 0.1 * mean.detach().std() * torch.randn_like(mean)
        loss = torch.nn.functional.mse_loss(vae.decode(z).sample, x)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        if step % 100 == 0 or step == steps - 1:
            log(f"vae {step + 1}/{steps} loss {loss.item():.5f}")
    return vae.eval()


def finetune_decoder(vae: Any, images: Any, steps: int, batch: int, log: Any) -> Any:
    """The decoder alone, trained on with the encoder frozen (SD's ft-MSE VAE did the same): its colours get
    exact while the latents, and so the UNet trained on them, stay as they are."""
    import torch

    vae.requires_grad_(False)
    vae.decoder.requires_grad_(True)
    vae.post_quant_conv.requires_grad_(True)
    params = [p for p in vae.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=1e-3, total_steps=steps, pct_start=0.05)
    vae.train()
    for step in range(steps):
        x = images[torch.randint(0, len(images), (batch,))]
        with torch.no_grad():
            mean = vae.encode(x).latent_dist.mean
        z = mean + 0.1 * mean.std() * torch.randn_like(mean)
        loss = torch.nn.functional.mse_loss(vae.decode(z).sample, x)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        if step % 100 == 0 or step == steps - 1:
            log(f"decoder {step + 1}/{steps} loss {loss.item():.5f}")
    return vae.eval().requires_grad_(False)


def encode_latents(vae: Any, images: Any, chunk: int = 64) -> Any:
    """The posterior means of every picture (unscaled)."""
    import torch

    with torch.no_grad():
        return torch.cat([vae.encode(images[i : i + chunk]).latent_dist.mean for i in range(0, len(images), chunk)])


def encode_captions(text_encoder: Any, tokenizer: Any, captions: list[str]) -> Any:
    """The frozen encoder's last hidden states, exactly as StableDiffusionPipeline.encode_prompt computes them."""
    import torch

    ids = tokenizer(captions, padding="max_length", max_length=tokenizer.model_max_length, truncation=True)
    with torch.no_grad():
        return text_encoder(torch.tensor(ids.input_ids))[0]


@dataclass
class UNetData:
    latents: Any  # [N, 4, 8, 8], scaled
    full: Any  # [N] index into embeddings: "a red circle on a white background"
    short: Any  # [N] index: "a red circle"
    embeddings: Any  # [captions + 1 (empty), 77, 32]


def unet_data(samples: list[Sample], latents: Any, text_encoder: Any, tokenizer: Any) -> UNetData:
    import torch

    captions = [caption(c, s, b) for c, s, b in combinations()]
    captions += [caption(c, s) for c, s in itertools.product(COLOURS, SHAPES)]
    index = {text: i for i, text in enumerate(captions)}
    embeddings = encode_captions(text_encoder, tokenizer, [*captions, ""])
    full = torch.tensor([index[caption(x.colour, x.shape, x.background)] for x in samples])
    short = torch.tensor([index[caption(x.colour, x.shape)] for x in samples])
    return UNetData(latents, full, short, embeddings)


def train_unet(
    data: UNetData, steps: int, batch: int, noise_offset: float, log: Any, lr: float = 1e-3, start: Any = None
) -> Any:
    """The UNet (a new one, or trained on from `start`), its exponential moving average returned."""
    import torch
    from diffusers.schedulers.scheduling_ddpm import DDPMScheduler  # not `diffusers`: mypy reads its no-torch stand-in

    unet = new_unet() if start is None else copy.deepcopy(start).train().requires_grad_(True)
    ema = copy.deepcopy(unet).eval().requires_grad_(False)
    noise_schedule = DDPMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")
    alphas = noise_schedule.alphas_cumprod
    optimiser = torch.optim.AdamW(unet.parameters(), lr=lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=steps, pct_start=0.05)
    empty = len(data.embeddings) - 1
    unet.train()
    for step in range(steps):
        pick = torch.randint(0, len(data.latents), (batch,))
        x0 = data.latents[pick]
        # 70 % full captions, 20 % without the background, 10 % empty (classifier-free guidance)
        draw_kind = torch.rand(batch)
        cond = torch.where(draw_kind < 0.3, data.short[pick], data.full[pick])
        cond = torch.where(draw_kind < 0.1, torch.full_like(cond, empty), cond)
        noise = torch.randn_like(x0) + noise_offset * torch.randn(batch, x0.shape[1], 1, 1)
        t = torch.randint(0, noise_schedule.config.num_train_timesteps, (batch,))
        xt = noise_schedule.add_noise(x0, noise, t)
        predicted = unet(xt, t, data.embeddings[cond]).sample
        # min-SNR-5 weighting (Hang et al. 2023): the high-noise steps that set colours learn as fast as the rest
        snr = alphas[t] / (1 - alphas[t])
        weight = torch.clamp(snr, max=5.0) / snr
        loss = (weight * ((predicted - noise) ** 2).mean(dim=(1, 2, 3))).mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        decay = min(0.998, (1 + step) / (10 + step))
        with torch.no_grad():
            for average, current in zip(ema.parameters(), unet.parameters(), strict=True):
                average.lerp_(current, 1 - decay)
        if step % 200 == 0 or step == steps - 1:
            log(f"unet {step + 1}/{steps} loss {loss.item():.5f}")
    return ema


@dataclass
class Recipe:
    seed: int = 12
    per_combination: int = 32
    vae_steps: int = 800
    vae_batch: int = 8
    unet_steps: int = 2000
    unet_batch: int = 32
    noise_offset: float = 0.1
    decoder_steps: int = 800
    unet2_steps: int = 1500
    unet2_lr: float = 3e-4


def second_phase(data: UNetData, unet: Any, recipe: Recipe, log: Any) -> Any:
    """The UNet trained on from its first phase's average at a lower rate (colours of the rarer combinations)."""
    return train_unet(
        data, recipe.unet2_steps, recipe.unet_batch, recipe.noise_offset, log, lr=recipe.unet2_lr, start=unet
    )


def build(out: Path, recipe: Recipe, log: Any = print) -> Path:
    """Train the three stages and save the pipeline into `out` in the hub layout (model_index.json, unet/, ...)."""
    import torch

    from engine.tiny import _scheduler, _text_encoder, assemble, clip_tokenizer

    torch.manual_seed(recipe.seed)
    started = time.perf_counter()
    samples = dataset(recipe.seed, recipe.per_combination)
    images = to_tensor([x.picture for x in samples])
    vae = train_vae(images, recipe.vae_steps, recipe.vae_batch, log)
    raw = encode_latents(vae, images)
    scaling = float(1.0 / raw.std())
    vae.register_to_config(scaling_factor=round(scaling, 5))
    log(f"vae done in {time.perf_counter() - started:.0f} s, scaling factor {scaling:.5f}")
    torch.manual_seed(recipe.seed + 1)
    text_encoder, tokenizer = _text_encoder().requires_grad_(False), clip_tokenizer()
    data = unet_data(samples, raw * vae.config.scaling_factor, text_encoder, tokenizer)
    unet = train_unet(data, recipe.unet_steps, recipe.unet_batch, recipe.noise_offset, log)
    log(f"unet done in {time.perf_counter() - started:.0f} s")
    torch.manual_seed(recipe.seed + 2)
    vae = finetune_decoder(vae, images, recipe.decoder_steps, recipe.vae_batch, log)
    log(f"decoder done in {time.perf_counter() - started:.0f} s")
    torch.manual_seed(recipe.seed + 3)
    unet = second_phase(data, unet, recipe, log)
    log(f"unet phase 2 done in {time.perf_counter() - started:.0f} s")
    pipe = assemble(unet, vae, [text_encoder], tokenizer, _scheduler())
    pipe.save_pretrained(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.training.shapes", description=__doc__)
    parser.add_argument("--out", type=Path, default=KIT, help=f"folder of the kit (default {KIT})")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 = reproducible bytes)")
    defaults = Recipe()
    for name, value in vars(defaults).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    recipe = Recipe(**{name: getattr(args, name) for name in vars(defaults)})
    started = time.perf_counter()
    build(args.out, recipe, log=lambda line: print(line, file=sys.stderr, flush=True))
    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"tiny-shapes kit in {args.out}: {total / 1e6:.1f} MB, trained in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
