"""The tiny-shapes kit's captioner (/describe): a VisionEncoderDecoder, a tiny ViT that reads the picture and a tiny
GPT-2 that writes its caption, trained here, on CPU, on the kit's own pictures and captions (engine/training/shapes.py).

`python -m engine.training.captioner --out DIR` reproduces engine/kits/tiny-shapes-captioner (seeded, one torch
thread). The engine loads it as it loads any captioner (engine/describe.py: AutoModelForImageTextToText,
AutoImageProcessor, AutoTokenizer); with ENGINE_MODEL=tiny-shapes it is the default ENGINE_CAPTION_MODEL.

It reads the picture at 32 px (the shapes are large and flat), and learns "a red circle on a white background" for
three pictures in four and "a red circle" for the fourth, as the UNet learned both; so a beam search finds both.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .recipes import run_recipe
from .shapes import BACKGROUNDS, CAPTIONER, COLOURS, SHAPES, Sample, caption, dataset
from .words import word_tokenizer

INPUT = 32  # pixels a side the ViT reads (the image processor resizes every picture to this)
MAX_TOKENS = 12  # "a red circle on a white background" is 8 words, and </s>


def vocabulary() -> list[str]:
    return sorted({word for c in COLOURS for s in SHAPES for b in BACKGROUNDS for word in caption(c, s, b).split()})


def new_captioner(tokenizer: Any) -> Any:
    from transformers import GenerationConfig, GPT2Config, GPT2LMHeadModel, ViTConfig, ViTModel
    from transformers import VisionEncoderDecoderModel as Captioner

    vision = ViTConfig(
        image_size=INPUT,
        patch_size=4,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
    )
    ids = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id}
    text = GPT2Config(
        vocab_size=len(tokenizer), n_positions=48, n_embd=64, n_layer=2, n_head=4, add_cross_attention=True, **ids
    )
    model = Captioner(encoder=ViTModel(vision), decoder=GPT2LMHeadModel(text))
    model.config.decoder_start_token_id = tokenizer.bos_token_id
    model.config.pad_token_id = tokenizer.pad_token_id
    model.config.eos_token_id = tokenizer.eos_token_id
    model.generation_config = GenerationConfig(
        decoder_start_token_id=tokenizer.bos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        max_new_tokens=MAX_TOKENS,
        **ids,
    )
    return model


def new_image_processor() -> Any:
    from transformers import ViTImageProcessor

    return ViTImageProcessor(size={"height": INPUT, "width": INPUT}, image_mean=[0.5] * 3, image_std=[0.5] * 3)


def labels(tokenizer: Any, texts: list[str]) -> Any:
    """Token ids of each caption and </s>, padded with -100 (not learned)."""
    import torch

    rows = [[*tokenizer(text).input_ids, tokenizer.eos_token_id] for text in texts]
    return torch.tensor([row + [-100] * (MAX_TOKENS - len(row)) for row in rows])


@dataclass
class Recipe:
    seed: int = 31
    per_combination: int = 16
    steps: int = 1500
    batch: int = 32
    lr: float = 3e-3
    short_share: float = 0.25  # captions without the background
    noise: float = 0.05  # pixel noise added in training (JPEG, the UNet's imperfect flats)


def train(samples: list[Sample], recipe: Recipe, log: Any) -> tuple[Any, Any, Any]:
    import torch

    tokenizer, images = word_tokenizer(vocabulary()), new_image_processor()
    model = new_captioner(tokenizer)
    pixels = images(images=[x.picture for x in samples], return_tensors="pt")["pixel_values"]
    full = labels(tokenizer, [caption(x.colour, x.shape, x.background) for x in samples])
    short = labels(tokenizer, [caption(x.colour, x.shape) for x in samples])
    optimiser = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=recipe.lr, total_steps=recipe.steps, pct_start=0.1)
    model.train()
    for step in range(recipe.steps):
        pick = torch.randint(0, len(samples), (recipe.batch,))
        target = torch.where((torch.rand(recipe.batch) < recipe.short_share)[:, None], short[pick], full[pick])
        x = pixels[pick] + recipe.noise * torch.randn_like(pixels[pick])
        loss = model(pixel_values=x, labels=target).loss
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        if step % 100 == 0 or step == recipe.steps - 1:
            log(f"captioner {step + 1}/{recipe.steps} loss {loss.item():.4f}")
    return model.eval(), images, tokenizer


def accuracy(model: Any, images: Any, tokenizer: Any, seed: int) -> float:
    """The share of fresh pictures (a shape that can be seen: not white on white) whose best caption is right."""
    from engine.describe import Captioner, describe

    captioner = Captioner(model, images, tokenizer)
    seen = [x for x in dataset(seed, 2) if x.colour != x.background]
    right = [describe(captioner, x.picture)[0] == caption(x.colour, x.shape, x.background) for x in seen]
    return sum(right) / len(right)


def build(out: Path, recipe: Recipe, log: Any = print) -> Path:
    import torch

    torch.manual_seed(recipe.seed)
    random.seed(recipe.seed)
    started = time.perf_counter()
    model, images, tokenizer = train(dataset(recipe.seed, recipe.per_combination), recipe, log)
    log(f"captioner trained in {time.perf_counter() - started:.0f} s")
    model.save_pretrained(out)
    images.save_pretrained(out)
    tokenizer.save_pretrained(out)
    log(f"right on fresh pictures: {accuracy(model, images, tokenizer, recipe.seed + 1000):.0%}")
    return out


def main(argv: list[str] | None = None) -> int:
    return run_recipe(
        argv,
        prog="python -m engine.training.captioner",
        description=__doc__,
        out=CAPTIONER,
        recipe=Recipe,
        build=build,
        what="captioner",
    )


if __name__ == "__main__":
    raise SystemExit(main())
