"""Text to pictures through the studio, with the offline tiny kit: sizes, seeds, styles, shared weights."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from engine.api import ASPECTS, BadRequest, ImageRequest, ModeUnavailable
from engine.settings import EngineSettings
from engine.studio import Hooks, Studio


@pytest.fixture(scope="module")
def studio(engine_cache) -> Studio:
    return Studio(EngineSettings(model="tiny", cache_dir=engine_cache, quality_steps=2, warmup=False))


def make(studio: Studio, **fields):
    plan = studio.plan(ImageRequest(**fields))
    return studio.run([plan], Hooks())[0]


def pixels(picture) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(picture.png)))


@pytest.mark.parametrize("aspect", ASPECTS)
def test_every_aspect_gives_its_own_shape(studio, aspect):
    result = make(studio, prompt="a red fox", aspect=aspect, count=1, seed=3)
    picture = result.pictures[0]
    w, h = (int(part) for part in aspect.split(":"))
    assert abs(picture.width / picture.height - w / h) < 0.15
    assert picture.width % studio.models.multiple == 0 and picture.height % studio.models.multiple == 0
    assert Image.open(io.BytesIO(picture.png)).size == (picture.width, picture.height)


def test_count_pictures_with_consecutive_reported_seeds(studio):
    result = make(studio, prompt="a red fox", count=4, seed=10)
    assert [p.seed for p in result.pictures] == [10, 11, 12, 13]
    assert len({p.png for p in result.pictures}) == 4


def test_same_seed_same_pixels_and_other_seed_other_pixels(studio):
    a = make(studio, prompt="a red fox", count=1, seed=7).pictures[0]
    b = make(studio, prompt="a red fox", count=1, seed=7).pictures[0]
    c = make(studio, prompt="a red fox", count=1, seed=8).pictures[0]
    assert np.array_equal(pixels(a), pixels(b))
    assert not np.array_equal(pixels(a), pixels(c))


def test_each_picture_is_reproducible_alone_from_its_reported_seed(studio):
    third = make(studio, prompt="a red fox", count=4, seed=20).pictures[2]
    alone = make(studio, prompt="a red fox", count=1, seed=third.seed).pictures[0]
    assert np.abs(pixels(third).astype(int) - pixels(alone).astype(int)).max() <= 1


def test_the_style_template_and_negative_prompt_reach_the_pipeline(studio):
    style = studio.styles["watercolor"]
    styled = make(studio, prompt="a red fox", style="watercolor", count=1, seed=5)
    prompt, negative = style.apply("a red fox")
    assert styled.final_prompt == prompt and "watercolor" in prompt
    by_hand = make(studio, prompt=prompt, negative_prompt=negative, style="none", count=1, seed=5)
    plain = make(studio, prompt="a red fox", style="none", count=1, seed=5)
    assert np.array_equal(pixels(styled.pictures[0]), pixels(by_hand.pictures[0]))
    assert not np.array_equal(pixels(styled.pictures[0]), pixels(plain.pictures[0]))
    without_negative = make(studio, prompt=prompt, style="none", count=1, seed=5)
    assert not np.array_equal(pixels(styled.pictures[0]), pixels(without_negative.pictures[0]))


def test_parameters_are_embedded_in_every_png(studio):
    picture = make(studio, prompt="a red fox", style="photo", count=1, seed=42).pictures[0]
    info = Image.open(io.BytesIO(picture.png)).info
    params = json.loads(info["easel"])
    assert params["user_prompt"] == "a red fox" and params["style"] == "photo" and params["seed"] == 42
    assert "Seed: 42" in info["parameters"] and "a red fox" in info["parameters"]
    assert Image.open(io.BytesIO(picture.preview)).format == "JPEG"


def test_bad_requests_are_refused_before_any_work(studio):
    with pytest.raises(BadRequest):
        studio.plan(ImageRequest(prompt="x", style="no-such-style"))
    with pytest.raises(BadRequest):
        studio.plan(ImageRequest(prompt="x", count=9))
    with pytest.raises(BadRequest):
        studio.plan(ImageRequest(prompt="x", aspect="7:1"))
    with pytest.raises(BadRequest):
        studio.plan(ImageRequest(prompt="x" * 1001))


def test_one_set_of_weights_serves_every_pipeline(studio):
    models = studio.models
    siblings = [models.img2img, models.inpaint] + ([models.structure] if models.structure is not None else [])
    for pipe in siblings:
        assert pipe.unet is models.text2img.unet
        assert pipe.vae is models.text2img.vae
        assert pipe.text_encoder is models.text2img.text_encoder
        assert pipe.unet.dtype == models.text2img.unet.dtype


def test_a_style_lora_is_switched_on_for_its_style_only(engine_cache, tmp_path, tiny_kit):
    styles = tmp_path / "brand.yaml"
    styles.write_text(
        "styles:\n"
        "  - id: brand\n"
        "    name: {en: Brand, ru: Бренд}\n"
        "    prompt: '{prompt}, brand look'\n"
        "    loras: [{file: tiny_style.safetensors, strength: 1.0}]\n"
    )
    settings = EngineSettings(model="tiny", cache_dir=engine_cache, quality_steps=2, warmup=False, styles_file=styles)
    studio = Studio(settings)
    assert "brand" in studio.styles and "tiny_style" in studio.models.loras
    with_lora = make(studio, prompt="a red fox", style="brand", count=1, seed=1).pictures[0]
    studio.styles["brand_off"] = studio.styles["brand"].__class__(
        id="brand_off", names={"en": "x"}, prompt="{prompt}, brand look"
    )
    without = make(studio, prompt="a red fox", style="brand_off", count=1, seed=1).pictures[0]
    again = make(studio, prompt="a red fox", style="brand", count=1, seed=1).pictures[0]
    assert not np.array_equal(pixels(with_lora), pixels(without))
    assert np.array_equal(pixels(with_lora), pixels(again))


def test_an_unknown_lora_file_is_a_startup_error_naming_it(engine_cache, tmp_path):
    styles = tmp_path / "broken.yaml"
    styles.write_text("styles:\n  - id: b\n    prompt: '{prompt}'\n    loras: [{file: missing_lora.safetensors}]\n")
    with pytest.raises(ValueError, match=r"missing_lora\.safetensors"):
        Studio(EngineSettings(model="tiny", cache_dir=engine_cache, warmup=False, styles_file=styles))


def test_a_mode_without_its_model_is_reported_unavailable(engine_cache):
    settings = EngineSettings(model="tiny", cache_dir=engine_cache, warmup=False, ip_adapter="none")
    studio = Studio(settings)
    assert "mix" not in studio.available_modes()
    with pytest.raises(ModeUnavailable):
        studio.plan(ImageRequest(mode="mix", images=(b"x", b"y")))
