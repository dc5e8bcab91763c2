"""What the pictures show, on the trained tiny-shapes kit (ENGINE_MODEL=tiny-shapes), through the engine's studio
with its real defaults (the default sampler, 30 steps, guidance 6): every colour x shape x background is drawn as
asked; a subtle variation keeps the picture and a strong one changes more; a restyle keeps the seed and changes
what the style changes; a zoom-out keeps the picture in the middle and continues its background (the inpainting
path: only the masked border is repainted); an upscale to 512 px keeps the content (scaled back down it is the
source; at full size no window has a new shape in it). The kit's captioner describes a photo of any shape by its
colour, shape and background (/describe), and a Russian prompt ("красный круг на белом фоне") draws what it says
through the kit's translator.

Not covered: mix and reimagine (the kit has no image-prompt adapter) and remix (no structure adapter)."""

from __future__ import annotations

import io
import itertools
import random

import numpy as np
import pytest
from PIL import Image
from pixels import background_share, params, picture, ssim, subject_share

from engine.api import ImageRequest, Mode
from engine.settings import EngineSettings
from engine.studio import Hooks, Studio
from engine.training.shapes import BACKGROUNDS, COLOURS, KIT, SHAPES, caption, draw
from engine.training.translator import russian

STYLES = KIT.parent / "tiny-shapes-styles.yaml"


@pytest.fixture(scope="module")
def studio(tmp_path_factory) -> Studio:
    settings = EngineSettings(
        model="tiny-shapes",
        cache_dir=tmp_path_factory.mktemp("cache"),
        styles_file=STYLES,
        upscale_long_side=512,
        warmup=False,
    )
    return Studio(settings)


def make(studio: Studio, **fields) -> list[Image.Image]:
    plan = studio.plan(ImageRequest(**fields))
    return [picture(p.png) for p in studio.run([plan], Hooks())[0].pictures]


def test_every_colour_shape_and_background_is_drawn_as_asked(studio):
    """Each of the 36 prompts, with two seeds: every prompt is drawn right at least once, and at least 90 % of the
    72 pictures are right (measured: 34 of 36 right at one seed, the misses differ from seed to seed)."""
    combos = list(itertools.product(COLOURS, SHAPES, BACKGROUNDS))
    plans = [
        studio.plan(ImageRequest(prompt=caption(c, s, b), count=1, seed=base + i))
        for base in (100, 200)
        for i, (c, s, b) in enumerate(combos)
    ]
    assert plans[0].steps == 30 and plans[0].guidance == 6.0  # the engine's real defaults for an SD1.5 model
    results = studio.run(plans, Hooks())  # one batched call, as the worker batches users' jobs
    right: dict[str, list[bool]] = {}
    report = []
    for (colour, _shape, background), plan, result in zip(combos * 2, plans, results, strict=True):
        image = picture(result.pictures[0].png)
        bg, fg = background_share(image, background), subject_share(image, colour)
        right.setdefault(plan.request.prompt, []).append(bg >= 0.8 and fg >= 0.6)
        if not right[plan.request.prompt][-1]:
            report.append(f"{plan.request.prompt} (seed {plan.seeds[0]}): background {bg:.0%}, subject {fg:.0%}")
    never = [prompt for prompt, oks in right.items() if not any(oks)]
    share = sum(sum(oks) for oks in right.values()) / len(plans)
    assert not never and share >= 0.9, f"never right: {never}; right {share:.0%}\n" + "\n".join(report)


@pytest.fixture(scope="module")
def red_circle(studio) -> bytes:
    plan = studio.plan(ImageRequest(prompt="a red circle on a white background", count=1, seed=7))
    return studio.run([plan], Hooks())[0].pictures[0].png


def test_a_subtle_variation_keeps_the_picture_and_a_strong_one_changes_more(studio, red_circle):
    source = picture(red_circle)
    subtle = make(studio, mode=Mode.VARY, images=(red_circle,), variation="subtle", count=2, seed=11)
    strong = make(studio, mode=Mode.VARY, images=(red_circle,), variation="strong", count=2, seed=11)
    subtle_ssim = [ssim(source, image) for image in subtle]
    strong_ssim = [ssim(source, image) for image in strong]
    assert min(subtle_ssim) > 0.85, subtle_ssim
    assert sum(subtle_ssim) / 2 > sum(strong_ssim) / 2 + 0.02, (subtle_ssim, strong_ssim)
    for image in subtle + strong:  # still what the prompt says
        assert background_share(image, "white") > 0.8 and subject_share(image, "red") > 0.6


def test_a_restyle_keeps_the_seed_and_changes_what_the_style_changes(studio):
    original = studio.run([studio.plan(ImageRequest(prompt="a yellow square", count=1, seed=21))], Hooks())[0]
    png = original.pictures[0].png
    night = studio.run([studio.plan(ImageRequest(mode=Mode.RESTYLE, images=(png,), style="night"))], Hooks())[0]
    day = studio.run([studio.plan(ImageRequest(mode=Mode.RESTYLE, images=(png,), style="day"))], Hooks())[0]
    for restyled, background in ((night, "black"), (day, "white")):
        image = picture(restyled.pictures[0].png)
        assert restyled.pictures[0].seed == 21 and params(restyled.pictures[0].png)["seed"] == 21
        assert background_share(image, background) > 0.8  # what the style changes
        assert subject_share(image, "yellow") > 0.6  # what it keeps


def test_zoom_out_keeps_the_picture_in_the_middle_and_continues_its_background(studio, red_circle):
    from engine.modes.zoom import FEATHER, MIN_FEATHER_PX, SAME_ASPECT_ZOOM, layout

    source = picture(red_circle)
    zoom = dict(mode=Mode.ZOOM, images=(red_circle,), prompt="a red circle on a white background", count=1)
    (zoomed,) = make(studio, **zoom, seed=5)  # seeds 0-39 all pass (a seed of its own: no run-to-run luck)
    assert zoomed.size == source.size
    x, y, w, h = layout(source.size, zoomed.size, SAME_ASPECT_ZOOM)
    # Inside the band along the seam (repainted and blended) the picture is the source, pixel for pixel: only the
    # masked border was painted.
    band = 2 * max(MIN_FEATHER_PX, round(min(w, h) * FEATHER))  # the band, and the blur that softens its edge
    inner = (x + band, y + band, x + w - band, y + h - band)
    kept = np.asarray(zoomed.crop(inner), dtype=float)
    shrunk = source.resize((w, h), Image.Resampling.LANCZOS).crop((band, band, w - band, h - band))
    assert np.abs(kept - np.asarray(shrunk, dtype=float)).mean() < 2.0
    assert background_share(zoomed, "white") > 0.8  # the new border is more of the white background


def test_an_upscale_keeps_the_content(studio, red_circle):
    source = picture(red_circle)
    (big,) = make(studio, mode=Mode.UPSCALE, images=(red_circle,), prompt="a red circle on a white background", seed=5)
    assert big.size == (512, 512)
    small = big.resize(source.size, Image.Resampling.LANCZOS)
    assert ssim(small, source) > 0.9
    # At full size too it is the source enlarged: no new shapes in the windows (with them, 0.5-0.6; measured 0.95)
    assert ssim(big, source.resize(big.size, Image.Resampling.LANCZOS)) > 0.85
    assert background_share(big, "white") > 0.8 and subject_share(big, "red") > 0.6


# ---- /describe: the kit's trained captioner (engine/training/captioner.py) -----------------------------------------
def test_a_photo_of_any_shape_is_described_by_its_colour_shape_and_background(studio):
    """Every combination whose shape can be seen (not white on white), drawn bigger than the kit's pictures and sent
    as a JPEG, as a phone would: the first prompt says what it shows; the others are distinct and fewer than 4."""
    rng, wrong = random.Random(8), []
    for colour, shape, background in itertools.product(COLOURS, SHAPES, BACKGROUNDS):
        if colour == background:
            continue
        out = io.BytesIO()
        draw(colour, shape, background, rng, size=300).save(out, format="JPEG", quality=85)
        prompts = studio.describe(picture(out.getvalue()))
        assert 1 <= len(prompts) <= 3 and len({p.casefold() for p in prompts}) == len(prompts), prompts
        if prompts[0] != caption(colour, shape, background):
            wrong.append((caption(colour, shape, background), prompts))
    assert not wrong, wrong


def test_a_picture_the_kit_drew_is_described_by_its_own_prompt(studio, red_circle):
    assert studio.describe(picture(red_circle))[0] == "a red circle on a white background"


async def test_the_engine_describes_a_file_and_refuses_a_broken_one(studio, red_circle):
    from engine.api import BadImage, ShuttingDown
    from engine.service import Engine

    engine = Engine(studio.settings, studio=studio)
    await engine.start()
    assert engine.can_describe()
    assert (await engine.describe(red_circle))[0] == "a red circle on a white background"
    with pytest.raises(BadImage):
        await engine.describe(b"not a picture")
    await engine.close()
    with pytest.raises(ShuttingDown):
        await engine.describe(red_circle)


# ---- Russian prompts: the kit's trained translator (engine/training/translator.py) ---------------------------------
def test_a_russian_prompt_draws_what_it_says(studio):
    """Through the engine's translation step (engine/prompts.py), as any Russian prompt on an English-only encoder."""
    cases = [("red", "circle", "white"), ("blue", "square", "black"), ("yellow", "triangle", "white")]
    plans = [
        studio.plan(ImageRequest(prompt=russian(c, s, b), count=1, seed=100 + i)) for i, (c, s, b) in enumerate(cases)
    ]
    assert plans[0].request.prompt == "красный круг на белом фоне"
    results = studio.run(plans, Hooks())
    for (colour, shape, background), plan, result in zip(cases, plans, results, strict=True):
        assert plan.prompt == caption(colour, shape, background)  # what the text encoder saw
        image = picture(result.pictures[0].png)
        assert background_share(image, background) >= 0.8 and subject_share(image, colour) >= 0.6, plan.prompt
