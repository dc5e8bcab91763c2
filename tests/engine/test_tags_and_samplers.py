"""Tags and samplers are data: an administrator's styles file gives global tags and a style's own tags (a fragment
added to the prompt or to the negative prompt), and a style may name its sampler, steps, guidance and guidance
rescale; an unknown sampler stops the start with an error naming it. Chosen tags reach the prompt and the PNG."""

from __future__ import annotations

import io
import json
import textwrap

import pytest
from PIL import Image

from engine.api import BadRequest, ImageRequest, Mode
from engine.settings import EngineSettings
from engine.studio import Hooks, Studio
from engine.styles import StyleError

ADMIN_STYLES = """
tags:
  - id: glow
    name: {en: "glow", ru: "свечение"}
    prompt: "soft glow"
styles:
  - id: brand
    name: {en: "Brand", ru: "Бренд"}
    prompt: "{prompt}, brand look"
    scheduler: dpmpp_2m_karras
    steps: 3
    guidance: 4.5
    guidance_rescale: 0.7
    tags:
      - id: no-logo
        name: {en: "logo", ru: "логотип"}
        negative: "logo, watermark"
"""


@pytest.fixture(scope="module")
def studio(tmp_path_factory) -> Studio:
    styles = tmp_path_factory.mktemp("admin") / "styles.yaml"
    styles.write_text(ADMIN_STYLES)
    return Studio(EngineSettings(model="tiny-shapes", styles_file=styles, quality_steps=2, warmup=False))


def test_a_style_offers_the_global_tags_then_its_own(studio):
    brand, photo = studio.styles["brand"], studio.styles["photo"]
    assert [tag.id for tag in brand.tags][-2:] == ["glow", "no-logo"]
    assert "white-background" in [tag.id for tag in brand.tags]  # the curated global tags too
    assert "no-logo" not in [tag.id for tag in photo.tags]
    labels = {tag.id: (tag.label("en"), tag.label("ru")) for tag in brand.tags}
    assert labels["glow"] == ("+ glow", "+ свечение") and labels["no-logo"] == ("− logo", "− логотип")


def test_chosen_tags_reach_the_prompts_and_the_png(studio):
    request = ImageRequest(prompt="a red circle", style="brand", count=1, seed=1, tags=("glow", "no-logo"))
    result = studio.run([studio.plan(request)], Hooks())[0]
    assert result.final_prompt == "a red circle, soft glow, brand look"
    assert result.negative_prompt == "logo, watermark"
    params = json.loads(Image.open(io.BytesIO(result.pictures[0].png)).info["easel"])
    assert params["tags"] == ["glow", "no-logo"]
    assert "Tags: glow no-logo" in Image.open(io.BytesIO(result.pictures[0].png)).info["parameters"]


def test_a_tag_the_style_does_not_offer_is_refused(studio):
    with pytest.raises(BadRequest, match="no-logo"):
        studio.plan(ImageRequest(prompt="a red circle", style="photo", tags=("no-logo",)))


def test_a_style_runs_with_its_own_sampler_steps_guidance_and_rescale(studio):
    plan = studio.plan(ImageRequest(prompt="a red circle", style="brand", count=1, seed=1))
    assert (plan.steps, plan.guidance, plan.guidance_rescale) == (3, 4.5, 0.7)
    studio.run([plan], Hooks())
    scheduler = studio.models.text2img.scheduler
    assert type(scheduler).__name__ == "DPMSolverMultistepScheduler" and scheduler.config.use_karras_sigmas
    studio.run([studio.plan(ImageRequest(prompt="a red circle", count=1, seed=1))], Hooks())
    assert type(studio.models.text2img.scheduler).__name__ == "EulerDiscreteScheduler"  # the model's own again


def test_a_repainted_region_runs_with_the_style_sampler_too(studio):
    source = studio.run([studio.plan(ImageRequest(prompt="a red circle", count=1, seed=1))], Hooks())[0].pictures[0]
    mask = Image.new("L", Image.open(io.BytesIO(source.png)).size, 0)
    mask.paste(255, (0, 0, 32, 32))
    png = io.BytesIO()
    mask.save(png, "PNG")
    request = ImageRequest(
        mode=Mode.INPAINT,
        prompt="a red circle",
        instruction="a blue square",
        style="brand",
        count=1,
        seed=1,
        images=(source.png,),
        mask=png.getvalue(),
    )
    studio.run([studio.plan(request)], Hooks())
    assert type(studio.models.inpaint.scheduler).__name__ == "DPMSolverMultistepScheduler"


def test_an_unknown_sampler_stops_the_start_naming_it(tmp_path):
    styles = tmp_path / "styles.yaml"
    styles.write_text(
        textwrap.dedent("""
        styles:
          - id: odd
            prompt: "{prompt}"
            scheduler: dpmpp_9m
    """)
    )
    with pytest.raises(StyleError, match=r"style 'odd'.*unknown scheduler 'dpmpp_9m'"):
        Studio(EngineSettings(model="tiny-shapes", styles_file=styles, warmup=False))
