"""/describe: prompts that describe a picture, written by a captioning model through transformers.

Any image-to-text model that `AutoModelForImageTextToText` loads and that captions from the picture alone will do:
BLIP (Salesforce/blip-image-captioning-large), GIT (microsoft/git-large-coco), a VisionEncoderDecoder such as
nlpconnect/vit-gpt2-image-captioning, or the tiny-shapes kit's own, trained here (engine/training/captioner.py).
ENGINE_CAPTION_MODEL names it, a hub id or a folder; empty = none, and a client hides the choice.

Up to three prompts, best first, from one beam search that returns several beams (Midjourney's /describe offers
four): each cleaned like every model output (engine/prompts.py's sanitize, plus the stock openings captioners are
known for, BLIP's "arafed ..." and "there is a ..."), duplicates dropped, and beams much less likely than the best
one dropped too: a caption the model hardly believes is a guess, not a description.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from .prompts import sanitize

MAX_PROMPTS = 3
BEAMS = 6  # beams searched (and returned): more than MAX_PROMPTS, as some come out the same once cleaned
MAX_NEW_TOKENS = 40  # a caption is a sentence: this bounds the time a call can take
MAX_CHARS = 300
# A caption 20 times less likely than the best one (log-probabilities of the whole caption) is a guess: dropped.
MAX_SCORE_GAP = 3.0
_STOCK_OPENING = re.compile(r"^(?:ara\w*\s+|there (?:is|are)\s+)", re.IGNORECASE)


@dataclass
class Captioner:
    """A loaded captioning model with its image processor and tokenizer."""

    model: Any
    images: Any
    tokenizer: Any


def load_captioner(name: str, device: torch.device) -> Captioner:
    from transformers import AutoImageProcessor, AutoModelForImageTextToText, AutoTokenizer

    # Half precision on a GPU: a captioner is small, and fp16/bf16 changes its beams little.
    dtype = torch.float32 if device.type == "cpu" else torch.bfloat16
    model = AutoModelForImageTextToText.from_pretrained(name, dtype=dtype)
    model = model.to(device).eval()  # type: ignore[arg-type]  # PreTrainedModel.to: see models._load_causal_lm
    return Captioner(model, AutoImageProcessor.from_pretrained(name), AutoTokenizer.from_pretrained(name))


def describe(captioner: Captioner, picture: Image.Image, count: int = MAX_PROMPTS) -> list[str]:
    """Up to `count` distinct prompts that describe `picture`, best first (deterministic: beam search)."""
    model = captioner.model
    pixels = captioner.images(images=picture.convert("RGB"), return_tensors="pt")["pixel_values"]
    with torch.inference_mode():
        output = model.generate(
            pixel_values=pixels.to(model.device, model.dtype),
            num_beams=BEAMS,
            num_return_sequences=BEAMS,
            do_sample=False,
            max_new_tokens=MAX_NEW_TOKENS,
            output_scores=True,
            return_dict_in_generate=True,
        )
    texts = captioner.tokenizer.batch_decode(output.sequences, skip_special_tokens=True)
    # Each beam's log-probability as a whole (beam search ranks by it per token: a short beam would look surer)
    steps = model.compute_transition_scores(output.sequences, output.scores, output.beam_indices)
    return pick(texts, steps.sum(dim=1).tolist(), count)


def pick(texts: list[str], scores: list[float], count: int = MAX_PROMPTS) -> list[str]:
    """The first `count` distinct cleaned captions (in beam search's order) whose log-probability is no more than
    MAX_SCORE_GAP below the likeliest one's."""
    best = max(scores, default=0.0)
    chosen: dict[str, str] = {}
    for text, score in zip(texts, scores, strict=True):
        prompt = clean(text)
        if prompt and score >= best - MAX_SCORE_GAP and prompt.casefold() not in chosen:
            chosen[prompt.casefold()] = prompt
    return list(chosen.values())[:count]


def clean(text: str) -> str:
    """A caption as a prompt: one plain line without the captioner's stock opening or a closing full stop."""
    text = sanitize(text, MAX_CHARS)
    for _ in range(2):
        text = _STOCK_OPENING.sub("", text)
    return text.rstrip(" .")
