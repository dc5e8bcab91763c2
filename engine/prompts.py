"""Prompts rewritten for the text encoder, on the worker thread: translation to English and optional LLM
beautification.

- Translation: a prompt with Cyrillic letters goes through the translation model (settings.translator, e.g. a
  MarianMT ru->en checkpoint) or else the LLM; other prompts pass untouched. With neither configured the prompt
  passes unchanged (logged once): an English-only encoder then sees it as it is, but nothing fails.
- Beautification: the LLM, with a system prompt like Kandinsky 3.1's (settings.beautify_system_prompt), expands
  a short prompt into one detailed English paragraph.
Every model output is sanitised (markup, think blocks, preambles, newlines stripped; length capped), bounded in
tokens and wall time (settings.llm_timeout_s, a StoppingCriteria), seeded (the same seed gives the same text),
and on any failure or timeout the step falls back to its input.
"""

from __future__ import annotations

import html
import logging
import re
import time
from typing import Any

import torch

from .api import ImageRequest, one_line
from .settings import EngineSettings

log = logging.getLogger(__name__)

MAX_BEAUTIFIED_CHARS = 600  # CLIP reads 77 tokens (about 300-400 characters); a bit more for long-text encoders
MAX_NEW_TOKENS = 160
MAX_TRANSLATION_TOKENS = 256
SAMPLING = {"do_sample": True, "temperature": 0.7, "top_p": 0.9}
TRANSLATE_SYSTEM_PROMPT = (
    "You translate prompts for an image generator into English. "
    "Reply with the English translation only, without comments or quotes."
)
CYRILLIC = re.compile(r"[\u0400-\u04FF]")

_warned_no_translator = False


class Timeout(Exception):
    """The model ran out of its time budget; its output is incomplete."""


def rewrite(models: Any, settings: EngineSettings, request: ImageRequest, seed: int) -> str:
    """The prompt the text encoder sees (before the style template): on one line, translated and beautified as
    the request asks. Runs on the worker thread: the translation model and the LLM share its device."""
    prompt = one_line(request.prompt)
    if not prompt:
        return prompt
    if request.translate:
        prompt = translate(models, settings, prompt, seed)
    if request.beautify:
        prompt = beautify(models, settings, prompt, seed)
    return prompt


def needs_translation(prompt: str) -> bool:
    return bool(CYRILLIC.search(prompt))


def translate(models: Any, settings: EngineSettings, prompt: str, seed: int = 0) -> str:
    """English for a Cyrillic prompt; anything else, or any failure, returns the prompt unchanged."""
    global _warned_no_translator
    if not needs_translation(prompt):
        return prompt
    translator = getattr(models, "translator", None)
    llm = getattr(models, "llm", None)
    if translator is None and llm is None:
        if not _warned_no_translator:
            _warned_no_translator = True
            log.warning("no translator or LLM configured: non-English prompts go to the text encoder as they are")
        return prompt
    try:
        if translator is not None:
            text = _seq2seq(translator, prompt, settings.llm_timeout_s)
        else:
            assert llm is not None  # without either, it returned above
            text = chat(llm, TRANSLATE_SYSTEM_PROMPT, prompt, seed, settings.llm_timeout_s)
    except Exception as error:  # a model's failure costs the translation, never the picture
        log.warning("translation failed (%s: %s); using the prompt as typed", type(error).__name__, error)
        return prompt
    return sanitize(text, len(prompt) * 4 + 100) or prompt


def beautify(models: Any, settings: EngineSettings, prompt: str, seed: int = 0) -> str:
    """A detailed English prompt from a short one; the prompt itself when there is no LLM or it fails."""
    llm = getattr(models, "llm", None)
    if llm is None:
        return prompt
    try:
        text = chat(llm, settings.beautify_system_prompt, prompt, seed, settings.llm_timeout_s)
    except Exception as error:
        log.warning("beautification failed (%s: %s); using the prompt as typed", type(error).__name__, error)
        return prompt
    text = sanitize(text)
    if not text or (needs_translation(text) and not needs_translation(prompt)):
        return prompt  # nothing usable, or not English
    return text


# ---- models -----------------------------------------------------------------------------------------------------
def _deadline(seconds: float) -> Any:
    """A transformers StoppingCriteria on wall time; its `hit` says whether it cut the generation short."""
    from transformers import StoppingCriteria

    class Deadline(StoppingCriteria):
        def __init__(self) -> None:
            self.end = time.monotonic() + seconds
            self.hit = False

        def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
            self.hit = self.hit or time.monotonic() > self.end
            return torch.full((input_ids.shape[0],), self.hit, dtype=torch.bool, device=input_ids.device)

    return Deadline()


def chat(llm: tuple[Any, Any], system: str, user: str, seed: int, timeout_s: float) -> str:
    """One chat turn with the LLM: its reply, raw. Raises Timeout when the wall-time budget cut it short."""
    model, tokenizer = llm
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    inputs = tokenizer.apply_chat_template(
        messages,
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
        enable_thinking=False,  # Qwen3-style templates: no <think> block (others ignore the flag)
    )
    inputs = {key: value.to(model.device) for key, value in inputs.items()}
    deadline = _deadline(timeout_s)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    # Seeded sampling, the global RNG restored after: the same seed gives the same prompt.
    devices = [model.device.index or 0] if model.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        with torch.inference_mode():
            output = model.generate(
                **inputs,
                max_new_tokens=MAX_NEW_TOKENS,
                stopping_criteria=[deadline],
                pad_token_id=pad,
                **SAMPLING,
            )
    if deadline.hit:
        raise Timeout(f"no answer within {timeout_s:g} s")
    return tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)


def _seq2seq(translator: tuple[Any, Any], text: str, timeout_s: float) -> str:
    model, tokenizer = translator
    inputs = tokenizer(text, return_tensors="pt", truncation=True, max_length=512)
    inputs = {key: value.to(model.device) for key, value in inputs.items()}
    deadline = _deadline(timeout_s)
    with torch.inference_mode():
        output = model.generate(
            **inputs, max_new_tokens=MAX_TRANSLATION_TOKENS, num_beams=1, do_sample=False, stopping_criteria=[deadline]
        )
    if deadline.hit:
        raise Timeout(f"no translation within {timeout_s:g} s")
    return tokenizer.decode(output[0], skip_special_tokens=True)


# ---- output sanitation ------------------------------------------------------------------------------------------
_THINK = re.compile(r"<(think|thinking|reasoning)>.*?(</\1>|$)", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"</?[A-Za-z][^<>]{0,200}>")
_CODE_FENCE = re.compile(r"```[A-Za-z0-9_-]*")
_MARKDOWN = re.compile(r"(\*\*|__|\*|`|~~|^#{1,6}\s*|^\s*>\s?|^\s*(?:[-*+•]|\d+[.)])\s+)", re.MULTILINE)
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
# What is left of markup after tags and fences are gone: a prompt never needs these, a chat renderer might.
_MARKUP_CHARS = re.compile(r"[<>`]")
_PREAMBLE = re.compile(
    r"^(?:(?:sure|okay|ok|certainly|of course|here(?:'s| is| are)?)\b[^:\n]*:|"
    r"(?:improved |enhanced |expanded |final |english )?(?:prompt|translation)\s*:)\s*",
    re.IGNORECASE,
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff\ufffd]")
_QUOTES = "\"'«»“”„`"


def sanitize(text: str, limit: int = MAX_BEAUTIFIED_CHARS) -> str:
    """One plain paragraph: no markup, no think blocks, no "Here is your prompt:", at most `limit` characters."""
    text = html.unescape(_THINK.sub(" ", text or ""))
    text = _CONTROL.sub(" ", _TAG.sub(" ", _CODE_FENCE.sub(" ", text)))
    text = _LINK.sub(r"\1", text)
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    # A model that explains itself writes a preamble and the prompt: keep the longest paragraph.
    if len(paragraphs) > 1:
        paragraphs = [max(paragraphs, key=lambda p: len(_PREAMBLE.sub("", p.strip())))]
    text = _MARKUP_CHARS.sub(" ", _MARKDOWN.sub(" ", paragraphs[0] if paragraphs else ""))
    text = one_line(text)
    for _ in range(2):
        text = _PREAMBLE.sub("", text).strip().strip(_QUOTES).strip()
    if len(text) > limit:
        cut = text[:limit]
        sentence = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
        cut = cut[: sentence + 1] if sentence > limit // 2 else cut.rsplit(" ", 1)[0]
        text = cut.rstrip(" ,;:-")
    return text
