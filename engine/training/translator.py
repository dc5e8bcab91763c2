"""The tiny-shapes kit's translator (Russian prompts): a MarianMT-shaped seq2seq model, as Helsinki-NLP/opus-mt-ru-en
is, trained here on the kit's vocabulary only. A test kit's translator: it knows the kit's 36 sentences and their
short forms ("красный круг на белом фоне" -> "a red circle on a white background") and nothing else; a real
deployment sets ENGINE_TRANSLATOR to a real model. It goes the way every translator goes (engine/prompts.py:
AutoModelForSeq2SeqLM, AutoTokenizer, generate), so the kit's Russian prompts test that path for real.

`python -m engine.training.translator --out DIR` reproduces engine/kits/tiny-shapes-translator (seeded, one thread).
"""

from __future__ import annotations

import itertools
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .recipes import run_recipe
from .shapes import BACKGROUNDS, COLOURS, SHAPES, TRANSLATOR, caption
from .words import word_tokenizer

# Russian for the kit's words. The shapes are all masculine (круг, квадрат, треугольник), so each colour has one
# form before them and one after "на ... фоне" (prepositional case).
RU_COLOURS = {
    "red": ("красный", "красном"),
    "green": ("зелёный", "зелёном"),
    "blue": ("синий", "синем"),
    "yellow": ("жёлтый", "жёлтом"),
    "white": ("белый", "белом"),
    "black": ("чёрный", "чёрном"),
}
RU_SHAPES = {"circle": "круг", "square": "квадрат", "triangle": "треугольник"}
MAX_TOKENS = 12


def russian(colour: str, shape: str, background: str | None = None) -> str:
    text = f"{RU_COLOURS[colour][0]} {RU_SHAPES[shape]}"
    return f"{text} на {RU_COLOURS[background][1]} фоне" if background else text


def pairs() -> list[tuple[str, str]]:
    """(Russian, English) for every sentence of the kit, with and without the background."""
    full = [(russian(c, s, b), caption(c, s, b)) for c, s, b in itertools.product(COLOURS, SHAPES, BACKGROUNDS)]
    return full + [(russian(c, s), caption(c, s)) for c, s in itertools.product(COLOURS, SHAPES)]


def new_translator(tokenizer: Any) -> Any:
    from transformers import GenerationConfig, MarianConfig, MarianMTModel

    ids = {"pad_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.eos_token_id}
    config = MarianConfig(
        vocab_size=len(tokenizer),
        d_model=64,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        max_position_embeddings=64,
        decoder_start_token_id=tokenizer.pad_token_id,  # as every opus-mt model: decoding starts from <pad>
        share_encoder_decoder_embeddings=True,
        # As the opus-mt models: token embeddings x sqrt(d_model), else the sinusoidal positions drown them
        scale_embedding=True,
        **ids,
    )
    model = MarianMTModel(config)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=tokenizer.pad_token_id, max_new_tokens=MAX_TOKENS, num_beams=1, **ids
    )
    return model


@dataclass
class Recipe:
    seed: int = 41
    steps: int = 400
    batch: int = 32
    lr: float = 3e-3
    full_stop_share: float = 0.2  # sources typed with a full stop (or a capital letter: the tokenizer lowers it)


def batch_of(tokenizer: Any, chosen: list[tuple[str, str]]) -> dict[str, Any]:
    sources = [source for source, _ in chosen]
    targets = [target for _, target in chosen]
    encoded = tokenizer(sources, text_target=targets, padding=True, return_tensors="pt")
    encoded["labels"][encoded["labels"] == tokenizer.pad_token_id] = -100
    return encoded


def train(recipe: Recipe, log: Any) -> tuple[Any, Any]:
    import torch

    data = pairs()
    words = [word for source, target in data for word in f"{source} {target}".split()]
    tokenizer = word_tokenizer([*words, ".", ","], end_with_eos=True)
    model = new_translator(tokenizer)
    optimiser = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=recipe.lr, total_steps=recipe.steps, pct_start=0.1)
    rng = random.Random(recipe.seed)
    model.train()
    for step in range(recipe.steps):
        chosen = [rng.choice(data) for _ in range(recipe.batch)]
        chosen = [(s + "." if rng.random() < recipe.full_stop_share else s, t) for s, t in chosen]
        loss = model(**batch_of(tokenizer, chosen)).loss
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        if step % 100 == 0 or step == recipe.steps - 1:
            log(f"translator {step + 1}/{recipe.steps} loss {loss.item():.4f}")
    return model.eval(), tokenizer


def build(out: Path, recipe: Recipe, log: Any = print) -> Path:
    import torch

    torch.manual_seed(recipe.seed)
    started = time.perf_counter()
    model, tokenizer = train(recipe, log)
    log(f"translator trained in {time.perf_counter() - started:.0f} s")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def main(argv: list[str] | None = None) -> int:
    return run_recipe(
        argv,
        prog="python -m engine.training.translator",
        description=__doc__,
        out=TRANSLATOR,
        recipe=Recipe,
        build=build,
        what="translator",
    )


if __name__ == "__main__":
    raise SystemExit(main())
