"""Prompt translation and beautification: a user types a short (often Russian) prompt, the text encoder gets one
clean English paragraph, and whatever the language models do (fail, hang, answer in markup) the picture is made."""

from __future__ import annotations

import logging
import time

import pytest
import torch

from engine import prompts
from engine.api import ImageRequest
from engine.models import load_language_models, with_tiny_kit
from engine.settings import EngineSettings

HOSTILE = [
    "<think>The user wants a fox. Let me think...</think>A red fox in the snow, golden hour",
    "Sure! Here is the improved prompt:\n\n**A red fox** in the snow, _golden hour_, `8k`\n\nThis prompt adds light.",
    "```\nA red fox in the snow\n```",
    "# Prompt\n- a red fox\n- in the snow\n1. golden hour",
    '"A red fox in the snow"',
    "Prompt: <b>A red fox</b> in the <i>snow</i> &amp; mist\r\n",
    "A red fox\x00 in the\u200b snow\u202e, golden hour\ufffd",
    "fox " * 1250,  # 5000 characters
    "A red fox. " + "Snow falls on the quiet forest, light is golden and soft. " * 100,
]


@pytest.mark.parametrize("text", HOSTILE)
def test_model_output_becomes_one_plain_capped_paragraph(text):
    clean = prompts.sanitize(text)
    assert clean
    assert "\n" not in clean and "\r" not in clean and "  " not in clean
    assert len(clean) <= prompts.MAX_BEAUTIFIED_CHARS
    for markup in ("<", ">", "**", "`", "#", "think", "Here is", "Prompt:", "\x00", "\u200b", "\u202e", "\ufffd"):
        assert markup not in clean
    assert not clean.startswith(('"', "'", "-", " ")) and not clean.endswith((",", " "))


def test_sanitize_keeps_a_plain_prompt_as_it_is():
    assert prompts.sanitize("A red fox in the snow, golden hour, 8k") == "A red fox in the snow, golden hour, 8k"
    assert prompts.sanitize("Sure! Here is the improved prompt:\n\nA red fox in the snow") == "A red fox in the snow"
    assert prompts.sanitize("") == "" and prompts.sanitize("<think>only thoughts") == ""


def test_stray_angle_brackets_and_backticks_from_a_noisy_model_are_dropped():
    clean = prompts.sanitize('w x @< y " q { 3 > z `a` b')
    assert not any(char in clean for char in "<>`") and clean.startswith("w x @")


def test_a_long_answer_is_cut_at_a_sentence_or_word_boundary():
    clean = prompts.sanitize("A red fox. " + "Snow falls on the quiet forest. " * 100)
    assert clean.endswith(".") and len(clean) <= prompts.MAX_BEAUTIFIED_CHARS
    words = prompts.sanitize("word " * 2000)
    assert set(words.split(" ")) == {"word"}


# ---- stand-ins for the language models -------------------------------------------------------------------------
class FakeTokenizer:
    pad_token_id = 0
    eos_token_id = 1

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.messages = None

    def apply_chat_template(self, messages, **kwargs):
        self.messages = messages
        ids = torch.tensor([[5, 6, 7]])
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}

    def __call__(self, text, **kwargs):
        self.messages = text
        ids = torch.tensor([[5, 6, 7]])
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}

    def decode(self, ids, skip_special_tokens=True) -> str:
        return self.reply


class FakeModel:
    """generate() answers at once, raises, or takes `delay` seconds per token until its stopping criteria stop it."""

    device = torch.device("cpu")

    def __init__(self, error: Exception | None = None, delay: float = 0.0) -> None:
        self.error, self.delay, self.calls = error, delay, 0

    def generate(self, input_ids, stopping_criteria=(), max_new_tokens=10, **kwargs):
        self.calls += 1
        if self.error is not None:
            raise self.error
        ids = input_ids
        for _ in range(max_new_tokens):
            time.sleep(self.delay)
            ids = torch.cat([ids, torch.tensor([[9]])], 1)
            if any(bool(criterion(ids, None).all()) for criterion in stopping_criteria):
                break
        return ids


class Models:
    def __init__(self, llm=None, translator=None) -> None:
        self.llm, self.translator = llm, translator


SETTINGS = EngineSettings(llm_timeout_s=2.0)


def test_beautify_sends_the_system_prompt_and_cleans_the_answer():
    tokenizer = FakeTokenizer("Here's an enhanced prompt:\n\n**A majestic red fox** in deep snow, golden hour")
    models = Models(llm=(FakeModel(), tokenizer))
    result = prompts.rewrite(models, SETTINGS, ImageRequest(prompt="  a  red fox ", beautify=True), seed=1)
    assert result == "A majestic red fox in deep snow, golden hour"
    assert tokenizer.messages[0] == {"role": "system", "content": SETTINGS.beautify_system_prompt}
    assert tokenizer.messages[1] == {"role": "user", "content": "a red fox"}


@pytest.mark.parametrize(
    "model",
    [FakeModel(error=RuntimeError("CUDA error: device-side assert")), FakeModel(error=torch.OutOfMemoryError())],
)
def test_a_failing_llm_falls_back_to_the_prompt(model):
    models = Models(llm=(model, FakeTokenizer("never")))
    assert prompts.beautify(models, SETTINGS, "a red fox", 1) == "a red fox"


def test_a_hanging_llm_is_cut_at_the_time_limit_and_falls_back():
    models = Models(llm=(FakeModel(delay=0.05), FakeTokenizer("half an ans")))
    started = time.perf_counter()
    assert prompts.beautify(models, EngineSettings(llm_timeout_s=0.2), "a red fox", 1) == "a red fox"
    assert time.perf_counter() - started < 1.5


@pytest.mark.parametrize("reply", ["", "<think>hmm</think>", "```\n```", "Рыжая лиса в снегу"])
def test_an_empty_or_non_english_answer_falls_back(reply):
    models = Models(llm=(FakeModel(), FakeTokenizer(reply)))
    assert prompts.beautify(models, SETTINGS, "a red fox", 1) == "a red fox"


def test_english_prompts_pass_untouched_and_no_model_is_asked():
    translator = FakeModel(error=AssertionError("must not be called"))
    models = Models(llm=(translator, FakeTokenizer("x")), translator=(translator, FakeTokenizer("x")))
    assert prompts.rewrite(models, SETTINGS, ImageRequest(prompt="a red fox"), 1) == "a red fox"
    assert prompts.rewrite(models, SETTINGS, ImageRequest(prompt="un renard roux, 東京"), 1) == "un renard roux, 東京"
    assert translator.calls == 0


def test_a_russian_prompt_goes_through_the_translation_model_first():
    translator = (FakeModel(), FakeTokenizer("a red fox in the snow"))
    llm = FakeModel(error=AssertionError("the dedicated translator comes first"))
    models = Models(llm=(llm, FakeTokenizer("x")), translator=translator)
    assert prompts.rewrite(models, SETTINGS, ImageRequest(prompt="рыжая лиса в снегу"), 1) == "a red fox in the snow"
    assert translator[1].messages == "рыжая лиса в снегу"


def test_without_a_translator_the_llm_translates():
    tokenizer = FakeTokenizer("Translation: a red fox in the snow")
    models = Models(llm=(FakeModel(), tokenizer))
    assert prompts.translate(models, SETTINGS, "рыжая лиса в снегу", 1) == "a red fox in the snow"
    assert "English" in tokenizer.messages[0]["content"]


def test_a_failing_translator_keeps_the_prompt():
    models = Models(translator=(FakeModel(error=ValueError("bad input")), FakeTokenizer("x")))
    assert prompts.translate(models, SETTINGS, "рыжая лиса", 1) == "рыжая лиса"


def test_with_no_translator_and_no_llm_the_prompt_passes_and_it_is_logged_once(caplog, monkeypatch):
    monkeypatch.setattr(prompts, "_warned_no_translator", False)
    with caplog.at_level(logging.WARNING, logger="engine.prompts"):
        for _ in range(3):
            assert prompts.rewrite(Models(), SETTINGS, ImageRequest(prompt="рыжая лиса"), 1) == "рыжая лиса"
    assert len([r for r in caplog.records if "translator" in r.getMessage()]) == 1


def test_translation_can_be_switched_off_per_request():
    models = Models(translator=(FakeModel(), FakeTokenizer("a red fox")))
    assert prompts.rewrite(models, SETTINGS, ImageRequest(prompt="рыжая лиса", translate=False), 1) == "рыжая лиса"


# ---- the tiny kit's LLM, for real ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_llm(engine_cache):
    settings = with_tiny_kit(EngineSettings(model="tiny", cache_dir=engine_cache))
    return load_language_models(settings)


def test_the_tiny_llm_runs_end_to_end_deterministically_per_seed(tiny_llm, monkeypatch):
    monkeypatch.setattr(prompts, "MAX_NEW_TOKENS", 48)  # the tiny model never stops by itself
    settings = EngineSettings(llm_timeout_s=60)
    raw = prompts.chat(tiny_llm.llm, settings.beautify_system_prompt, "a red fox", 7, 60)
    assert raw == prompts.chat(tiny_llm.llm, settings.beautify_system_prompt, "a red fox", 7, 60)
    assert raw != prompts.chat(tiny_llm.llm, settings.beautify_system_prompt, "a red fox", 8, 60)
    request = ImageRequest(prompt="рыжая лиса", beautify=True)  # translated by the LLM, then beautified
    first = prompts.rewrite(tiny_llm, settings, request, 7)
    assert first == prompts.rewrite(tiny_llm, settings, request, 7)
    assert first and "\n" not in first and len(first) <= prompts.MAX_BEAUTIFIED_CHARS


def test_the_tiny_llm_out_of_time_falls_back(tiny_llm):
    started = time.perf_counter()
    assert prompts.beautify(tiny_llm, EngineSettings(llm_timeout_s=0.01), "a red fox", 1) == "a red fox"
    assert time.perf_counter() - started < 5


# ---- /describe: captions as prompts (engine/describe.py) --------------------------------------------------------
def test_captions_become_clean_prompts_without_the_captioners_stock_openings():
    from engine.describe import clean

    assert clean("arafed man sitting on a bench in the park.") == "man sitting on a bench in the park"
    assert clean("there is a red fox in the snow") == "a red fox in the snow"
    assert clean("<b>a cat</b> on a **sofa**\n") == "a cat on a sofa"


def test_up_to_three_distinct_likely_captions_are_offered_in_the_beams_order():
    from engine.describe import MAX_SCORE_GAP, pick

    beams = ["a red fox in the snow", "A red fox in the snow.", "a fox in snow", "a dog", "a fox", "a cat"]
    scores = [-2.0, -2.1, -1.5, -1.5 - MAX_SCORE_GAP - 0.1, -3.0, -3.2]
    assert pick(beams, scores) == ["a red fox in the snow", "a fox in snow", "a fox"]  # "a dog" is a guess
    assert pick(beams, scores, count=1) == ["a red fox in the snow"]
    assert pick([], []) == []
