"""✨ without a second model (ENGINE_LLM=family): the family's own text encoder, a Qwen chat model with its
language-model head (FLUX.2 klein's Qwen3, Qwen-Image's and Kandinsky 5's Qwen2.5-VL), writes the improved prompt;
no other language model is loaded and no memory is added. A family whose encoder cannot chat (SD's CLIP) stops the
start with a message that says what to set."""

from __future__ import annotations

import pytest
import torch

from bench.memory import census
from engine import models as engine_models
from engine import prompts
from engine.api import ImageRequest
from engine.settings import EngineSettings
from engine.studio import Hooks, Studio


@pytest.fixture
def no_second_llm(monkeypatch):
    def refused(name, device):
        raise AssertionError(f"a second language model was loaded: {name}")

    monkeypatch.setattr(engine_models, "_load_causal_lm", refused)


@pytest.mark.parametrize("kit", ["tiny-flux2", "tiny-qwen-image", "tiny-kandinsky5"])
def test_the_family_text_encoder_writes_the_improved_prompt_and_nothing_is_added(
    engine_cache, no_second_llm, monkeypatch, kit
):
    torch.set_num_threads(1)
    monkeypatch.setattr(prompts, "MAX_NEW_TOKENS", 16)  # random weights never stop early: keep the replies short
    settings = EngineSettings(model=kit, cache_dir=engine_cache, llm="family", upscaler="none", quality_steps=1,
                              warmup=False)  # fmt: skip
    studio = Studio(settings)
    model, tokenizer = studio.models.llm
    assert model is studio.models.text2img.text_encoder and model.get_output_embeddings() is not None
    added = next(group["bytes"] for group in census(studio.models) if group["part"].startswith("prompt LLM"))
    assert added == 0
    reply = prompts.chat(studio.models.llm, settings.beautify_system_prompt, "a red fox", 1, 20.0)
    assert len(tokenizer(reply)["input_ids"]) >= 1  # the encoder generated text (random weights: any text)
    plan = studio.plan(ImageRequest(prompt="a red fox", beautify=True, count=1, seed=1))
    result = studio.run([plan], Hooks())[0]  # and the picture is drawn after ✨, with the same encoder
    assert len(result.pictures) == 1


def test_a_family_whose_encoder_cannot_chat_says_what_to_set(engine_cache):
    settings = EngineSettings(model="tiny", cache_dir=engine_cache, llm="family", ip_adapter="none",
                              structure_adapter="none", upscaler="none", warmup=False)  # fmt: skip
    with pytest.raises(ValueError, match=r"ENGINE_LLM=family: the sd15 text encoder \(CLIPTextModel\) is not"):
        Studio(settings)
