"""The image modes through the studio, with the offline tiny kit: a user sends a picture (or two) and a mode,
the engine answers with the right number of pictures, of the right size, the same ones for the same seed."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from engine.api import BadImage, BadRequest, ImageRequest, Mode, ModeUnavailable
from engine.modes import RUNNERS, ours
from engine.settings import EngineSettings
from engine.studio import Hooks, Studio


@pytest.fixture(scope="module")
def studio(engine_cache) -> Studio:
    return Studio(EngineSettings(model="tiny", cache_dir=engine_cache, quality_steps=2, warmup=False))


@pytest.fixture(scope="module")
def our_picture(studio) -> bytes:
    """A picture the bot sent earlier: 16:9, anime style, seed 5, parameters embedded."""
    return make(studio, prompt="a red fox", style="anime", aspect="16:9", count=1, seed=5).pictures[0].png


def make(studio: Studio, hooks: Hooks | None = None, **fields):
    plan = studio.plan(ImageRequest(**fields))
    return studio.run([plan], hooks or Hooks())[0]


def pixels(picture) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(picture.png))).astype(int)


def params(png: bytes) -> dict:
    return json.loads(Image.open(io.BytesIO(png)).info["easel"])


def case(sample_bytes, mode: Mode) -> dict:
    """A typical request of each mode, about the 451x300 cat photo (a mix: the 600x400 coffee photo first)."""
    cat = sample_bytes("chelsea.png")
    return {
        Mode.VARY: dict(images=(cat,), prompt="a cat"),
        Mode.RESTYLE: dict(images=(cat,), prompt="a cat", style="watercolor", aspect=""),
        Mode.REIMAGINE: dict(images=(cat,)),
        Mode.MIX: dict(images=(sample_bytes("coffee.png"), cat), weights=(0.5, 0.5), aspect=""),
        Mode.REMIX: dict(images=(cat,), prompt="a tiger in the snow"),
        Mode.PHOTO_PROMPT: dict(images=(cat,), prompt="a cat astronaut"),
        Mode.ZOOM: dict(images=(cat,), aspect="9:16"),
    }[mode]


IMAGE_MODES = [Mode.VARY, Mode.RESTYLE, Mode.REIMAGINE, Mode.MIX, Mode.REMIX, Mode.PHOTO_PROMPT, Mode.ZOOM]


def test_every_mode_has_a_runner_and_the_tiny_kit_serves_them_all(studio):
    assert set(RUNNERS) == set(Mode)
    assert studio.available_modes() == frozenset(Mode)


@pytest.mark.parametrize("mode", IMAGE_MODES)
def test_each_mode_returns_count_pictures_with_their_seeds_and_the_same_for_the_same_seed(studio, sample_bytes, mode):
    fields = case(sample_bytes, mode)
    first = make(studio, mode=mode, count=2, seed=40, **fields)
    again = make(studio, mode=mode, count=2, seed=40, **fields)
    assert [p.seed for p in first.pictures] == [40, 41]
    for a, b in zip(first.pictures, again.pictures, strict=True):
        assert np.array_equal(pixels(a), pixels(b))
    assert not np.array_equal(pixels(first.pictures[0]), pixels(first.pictures[1]))  # each seed its own picture
    multiple = studio.models.multiple
    for picture in first.pictures:
        assert Image.open(io.BytesIO(picture.png)).size == (picture.width, picture.height)
        assert picture.width % multiple == 0 and picture.height % multiple == 0
        assert params(picture.png)["mode"] == mode.value
        if mode in (Mode.VARY, Mode.REIMAGINE, Mode.REMIX, Mode.PHOTO_PROMPT, Mode.RESTYLE, Mode.MIX):
            source = (451, 300) if mode != Mode.MIX else (600, 400)  # the cat photo; a mix: the first photo
            assert abs(picture.width / picture.height - source[0] / source[1]) < 0.15


def test_subtle_and_strong_variations_differ_and_strong_departs_further(studio, sample_bytes):
    cat = sample_bytes("chelsea.png")
    subtle = make(studio, mode=Mode.VARY, images=(cat,), prompt="a cat", count=1, seed=3).pictures[0]
    strong = make(studio, mode=Mode.VARY, images=(cat,), prompt="a cat", variation="strong", count=1, seed=3)
    source = np.asarray(Image.open(io.BytesIO(cat)).convert("RGB").resize((subtle.width, subtle.height))).astype(int)
    assert not np.array_equal(pixels(subtle), pixels(strong.pictures[0]))
    assert np.abs(pixels(subtle) - source).mean() < np.abs(pixels(strong.pictures[0]) - source).mean()


@pytest.mark.parametrize("steps", [1, 2])
def test_few_step_profiles_still_vary(studio, sample_bytes, steps):
    result = make(studio, mode=Mode.VARY, images=(sample_bytes("chelsea.png"),), prompt="a cat", steps=steps,
                  count=1, seed=1)  # fmt: skip
    assert len(result.pictures) == 1


def test_varying_our_picture_keeps_its_prompt_and_style(studio, our_picture):
    result = make(studio, mode=Mode.VARY, images=(our_picture,), count=1, seed=9)
    assert result.style == "anime"
    assert result.final_prompt == params(our_picture)["prompt"]
    assert (result.pictures[0].width, result.pictures[0].height) == (176, 96)


def test_restyle_of_our_picture_is_the_same_prompt_and_seed_through_the_new_style(studio, our_picture):
    restyled = make(studio, mode=Mode.RESTYLE, images=(our_picture,), style="watercolor", count=1)
    direct = make(studio, prompt="a red fox", style="watercolor", aspect="16:9", count=1, seed=5)
    assert restyled.pictures[0].seed == 5
    assert restyled.final_prompt == direct.final_prompt
    assert np.array_equal(pixels(restyled.pictures[0]), pixels(direct.pictures[0]))


def test_restyle_without_a_picture_is_generate_with_the_given_seed(studio):
    restyled = make(studio, mode=Mode.RESTYLE, prompt="a red fox", style="watercolor", count=1, seed=5)
    direct = make(studio, prompt="a red fox", style="watercolor", count=1, seed=5)
    assert np.array_equal(pixels(restyled.pictures[0]), pixels(direct.pictures[0]))


def test_restyle_of_a_photo_keeps_its_layout_in_the_new_style(studio, sample_bytes):
    result = make(studio, mode=Mode.RESTYLE, images=(sample_bytes("chelsea.png"),), prompt="a cat",
                  style="watercolor", aspect="", count=1, seed=2)  # fmt: skip
    assert result.final_prompt.startswith("watercolor painting of a cat")
    picture = result.pictures[0]
    assert abs(picture.width / picture.height - 451 / 300) < 0.15


def test_unstyled_prompt_inverts_every_curated_style(studio):
    for style in studio.styles.values():
        styled, _ = style.apply("a red fox")
        assert ours.unstyled_prompt({"style": style.id, "prompt": styled}, studio.styles) == "a red fox", style.id


def test_changing_the_mix_balance_changes_the_picture_and_the_same_balance_reproduces_it(studio, sample_bytes):
    photos = (sample_bytes("chelsea.png"), sample_bytes("coffee.png"))

    def mix(weights):
        return pixels(make(studio, mode=Mode.MIX, images=photos, weights=weights, count=1, seed=4).pictures[0])

    a, b, c = mix((0.3, 0.7)), mix((0.7, 0.3)), mix((0.3, 0.7))
    assert not np.array_equal(a, b)
    assert np.array_equal(a, c)
    assert np.array_equal(mix((30, 70)), a)  # weights are normalised


def test_mix_follows_the_first_photo_or_the_chosen_aspect_and_takes_up_to_four(studio, sample_bytes):
    photos = tuple(sample_bytes(name) for name in ("coffee.png", "chelsea.png", "astronaut.png", "rocket.jpg"))
    follow = make(studio, mode=Mode.MIX, images=photos[:2], aspect="", count=1, seed=1).pictures[0]
    assert abs(follow.width / follow.height - 600 / 400) < 0.15
    chosen = make(studio, mode=Mode.MIX, images=photos, aspect="9:16", prompt="a cup", count=1, seed=1).pictures[0]
    assert chosen.height > chosen.width


def test_remix_structure_strength_changes_the_picture(studio, sample_bytes):
    cat = sample_bytes("chelsea.png")

    def remix(structure):
        return pixels(make(studio, mode=Mode.REMIX, images=(cat,), prompt="a tiger", structure=structure,
                           count=1, seed=2).pictures[0])  # fmt: skip

    assert not np.array_equal(remix(0.0), remix(2.0))


def test_remix_of_our_picture_with_only_a_new_style(studio, our_picture):
    result = make(studio, mode=Mode.REMIX, images=(our_picture,), style="pencil", count=1, seed=1)
    assert result.final_prompt.startswith("pencil sketch of a red fox")


def test_photo_prompt_with_a_strength_also_follows_the_photos_layout(studio, sample_bytes):
    result = make(studio, mode=Mode.PHOTO_PROMPT, images=(sample_bytes("chelsea.png"),), prompt="a tiger",
                  strength=0.6, count=2, seed=1)  # fmt: skip
    assert len(result.pictures) == 2


def test_zoom_out_keeps_the_old_picture_in_the_middle_of_the_new_aspect(studio, sample_bytes):
    result = make(studio, mode=Mode.ZOOM, images=(sample_bytes("chelsea.png"),), aspect="9:16", zoom=1.5, count=1,
                  seed=1)  # fmt: skip
    picture = result.pictures[0]
    assert picture.height > picture.width
    from engine.modes.zoom import layout

    x, y, w, h = layout((451, 300), (picture.width, picture.height), 1.5)
    m = 12  # past the feathered band
    inner = pixels(picture)[y + m : y + h - m, x + m : x + w - m]
    cat = Image.open(io.BytesIO(sample_bytes("chelsea.png"))).convert("RGB").resize((w, h), Image.Resampling.LANCZOS)
    expected = np.asarray(cat).astype(int)[m:-m, m:-m]
    assert np.abs(inner - expected).max() <= 2  # the old picture is laid back exactly (beyond the feathered band)


def test_zoom_out_of_a_picture_that_already_has_the_aspect_zooms_out_by_half_again(studio, sample_bytes):
    result = make(studio, mode=Mode.ZOOM, images=(sample_bytes("astronaut.png"),), aspect="1:1", count=1, seed=1)
    picture = result.pictures[0]
    corner = pixels(picture)[:8, :8]  # new border, painted (noise from the tiny model), not the astronaut's
    astronaut = np.asarray(Image.open(io.BytesIO(sample_bytes("astronaut.png"))).convert("RGB").resize((128, 128)))
    assert (picture.width, picture.height) == (128, 128)
    assert np.abs(corner - astronaut[:8, :8].astype(int)).mean() > 10


def test_zoom_out_of_our_picture_keeping_its_aspect(studio, our_picture):
    result = make(studio, mode=Mode.ZOOM, images=(our_picture,), aspect="", zoom=2, count=1, seed=1)
    assert result.final_prompt.startswith("anime artwork of a red fox")
    assert (result.pictures[0].width, result.pictures[0].height) == (176, 96)


@pytest.mark.parametrize(
    "fields",
    [
        dict(mode=Mode.VARY),  # no picture
        dict(mode=Mode.MIX, images=("cat",)),  # one picture for a mix
        dict(mode=Mode.MIX, images=("cat", "cat"), weights=(1.0,)),
        dict(mode=Mode.MIX, images=("cat", "cat"), weights=(0.0, 0.0)),
        dict(mode=Mode.MIX, images=("cat", "cat"), weights=(-1.0, 2.0)),
        dict(mode=Mode.REMIX, images=("cat",)),  # neither a prompt nor a style
        dict(mode=Mode.PHOTO_PROMPT, images=("cat",)),  # no caption
        dict(mode=Mode.VARY, images=("cat",), strength=0.0),
        dict(mode=Mode.REMIX, images=("cat",), prompt="x", structure=3.0),
        dict(mode=Mode.ZOOM, images=("cat",), zoom=0.5),
    ],
)
def test_bad_requests_are_refused_at_submit(studio, sample_bytes, fields):
    images = tuple(sample_bytes("chelsea.png") for _ in fields.pop("images", ()))
    with pytest.raises(BadRequest):
        studio.plan(ImageRequest(images=images, **fields))


def test_a_file_that_is_not_a_picture_is_refused_at_submit(studio):
    with pytest.raises(BadImage):
        studio.plan(ImageRequest(mode=Mode.VARY, images=(b"not a picture",)))


def test_a_picture_of_ours_is_opened_once_from_submit_to_its_variations(studio, our_picture, monkeypatch):
    opened = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda *args, **kwargs: opened.append(args) or real_open(*args, **kwargs))
    result = make(studio, mode=Mode.VARY, images=(our_picture,), count=1, seed=1)
    assert len(opened) == 1  # its parameters are read from the same opening as its pixels
    assert result.final_prompt.startswith("anime artwork of a red fox")


@pytest.mark.parametrize("mode", [Mode.VARY, Mode.REMIX, Mode.ZOOM])
def test_a_cancelled_job_stops_after_the_step_it_is_in(studio, sample_bytes, mode):
    steps = []
    hooks = Hooks(progress=lambda step, total: steps.append(step), interrupted=lambda: bool(steps))
    make(studio, hooks, mode=mode, count=1, seed=1, steps=6, **case(sample_bytes, mode))
    assert steps == [1]  # what an interrupted job returns, the service discards


@pytest.fixture(scope="module")
def bare_studio(engine_cache) -> Studio:
    """A server with no IP-Adapter, structure adapter or GAN configured."""
    settings = EngineSettings(model="tiny", cache_dir=engine_cache, quality_steps=2, warmup=False,
                              ip_adapter="none", structure_adapter="none", upscaler="none", llm="none")  # fmt: skip
    return Studio(settings)


def test_modes_without_their_model_are_reported_unavailable_not_crashing(bare_studio, sample_bytes):
    modes = bare_studio.available_modes()
    assert Mode.REIMAGINE not in modes and Mode.MIX not in modes and Mode.REMIX not in modes
    assert {Mode.GENERATE, Mode.VARY, Mode.RESTYLE, Mode.PHOTO_PROMPT, Mode.UPSCALE, Mode.ZOOM} <= modes
    cat = sample_bytes("chelsea.png")
    for mode, fields in ((Mode.MIX, dict(images=(cat, cat))), (Mode.REMIX, dict(images=(cat,), prompt="x"))):
        with pytest.raises(ModeUnavailable):
            bare_studio.plan(ImageRequest(mode=mode, **fields))


def test_without_an_ip_adapter_photo_prompt_falls_back_to_img2img(bare_studio, sample_bytes):
    result = make(bare_studio, mode=Mode.PHOTO_PROMPT, images=(sample_bytes("chelsea.png"),), prompt="a tiger",
                  count=2, seed=1)  # fmt: skip
    assert len(result.pictures) == 2
