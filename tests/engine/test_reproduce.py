"""A picture's file says how to make it again: its embedded parameters, read back into a request, give the same
pixels, for a picture drawn from text and for the 4K file made of one of them (which also names that picture)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from engine.api import ImageRequest, Mode, Origin
from engine.images import read_parameters
from engine.modes.ours import nearest_aspect
from engine.settings import EngineSettings
from engine.studio import Hooks, Studio


@pytest.fixture(scope="module")
def studio(engine_cache) -> Studio:
    settings = EngineSettings(
        model="tiny", cache_dir=engine_cache, quality_steps=3, warmup=False, upscale_long_side=512, upscale_tile=256
    )
    return Studio(settings)


def make(studio: Studio, request: ImageRequest):
    return studio.run([studio.plan(request)], Hooks())[0]


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def from_parameters(params: dict, **more) -> ImageRequest:
    """The request a user (or an operator) writes from a file's parameters alone."""
    return ImageRequest(
        mode=Mode(params["mode"]),
        prompt=params["user_prompt"],
        style=params["style"],
        aspect=nearest_aspect(params["width"], params["height"]) if params["mode"] == "generate" else "",
        count=1,
        seed=params["seed"],
        steps=params["steps"],
        **more,
    )


def test_a_picture_drawn_from_text_is_drawn_again_from_its_file(studio):
    album = make(studio, ImageRequest(prompt="a red fox in the snow", style="watercolor", aspect="3:4", count=3))
    second = album.pictures[1]
    again = make(studio, from_parameters(read_parameters(second.png)))
    assert again.pictures[0].seed == second.seed
    # Alone, not in a batch of three: the same picture but for float rounding (at most one level of 255).
    assert np.abs(pixels(again.pictures[0].png) - pixels(second.png)).max() <= 1
    other = make(studio, from_parameters({**read_parameters(second.png), "seed": second.seed + 1}))
    assert np.abs(pixels(other.pictures[0].png) - pixels(second.png)).mean() > 5, "another seed, another picture"


def test_a_4k_file_names_its_picture_and_is_made_again_from_it(studio):
    album = make(studio, ImageRequest(prompt="a lighthouse", count=2, seed=700))
    source = album.pictures[1]
    origin = Origin("job12345", picture=2, seed=source.seed)
    big = make(studio, ImageRequest(mode=Mode.UPSCALE, images=(source.png,), seed=source.seed, origin=origin))
    params = read_parameters(big.pictures[0].png)
    assert (params["source_job"], params["source_picture"], params["source_seed"]) == ("job12345", 2, 701)
    assert (
        params["seed"] == 701 and "Source seed: 701" in Image.open(io.BytesIO(big.pictures[0].png)).info["parameters"]
    )
    again = make(studio, from_parameters(params, images=(source.png,), origin=origin))
    assert np.array_equal(pixels(again.pictures[0].png), pixels(big.pictures[0].png))
