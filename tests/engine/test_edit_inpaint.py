"""Edit by instruction and repaint a region, through the studio with the offline tiny kit.

A user who likes a picture asks "make it night" (EDIT) or paints a region and says what goes there (INPAINT): the
pictures come back at the picture's size, their files name the picture and the instruction they came from, and a
repainted picture keeps every pixel outside the painted region.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from engine.api import BadImage, BadRequest, ErrorCode, ImageRequest, Mode, Origin
from engine.images import encode_preview
from engine.masks import FULL, read_mask
from engine.modes import inpaint
from engine.settings import EngineSettings
from engine.studio import Hooks, Studio


@pytest.fixture(scope="module")
def studio(engine_cache) -> Studio:
    return Studio(EngineSettings(model="tiny", cache_dir=engine_cache, quality_steps=2, warmup=False))


@pytest.fixture(scope="module")
def fox(studio) -> bytes:
    """A picture the bot sent earlier: "a red fox", 16:9, seed 5, parameters embedded."""
    return make(studio, prompt="a red fox", style="none", aspect="16:9", count=1, seed=5).pictures[0].png


def make(studio: Studio, **fields):
    return studio.run([studio.plan(ImageRequest(**fields))], Hooks())[0]


def params(png: bytes) -> dict:
    return json.loads(Image.open(io.BytesIO(png)).info["easel"])


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)


def mask_png(size: tuple[int, int], box: tuple[int, int, int, int] | None, *, transparent: bool = False) -> bytes:
    """White strokes where to repaint: on black, or (as a browser canvas exports them) on transparent."""
    image = Image.new("RGBA", size, (0, 0, 0, 0) if transparent else (0, 0, 0, 255))
    if box is not None:
        ImageDraw.Draw(image).rectangle(box, fill=(255, 255, 255, 255))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_an_edit_merges_the_instruction_and_records_the_chain(studio, fox):
    origin = Origin("job1", 1, 5)
    result = make(studio, mode=Mode.EDIT, images=(fox,), instruction="make it night", count=2, seed=9, origin=origin)
    assert len(result.pictures) == 2
    source = Image.open(io.BytesIO(fox))
    assert all((p.width, p.height) == source.size for p in result.pictures)
    first = params(result.pictures[0].png)
    assert first["mode"] == "edit" and first["instruction"] == "make it night"
    assert first["prompt"].startswith("make it night, a red fox"), "the instruction leads the picture's own prompt"
    assert (first["source_job"], first["source_picture"], first["source_seed"]) == ("job1", 1, 5)
    assert "Instruction: make it night" in Image.open(io.BytesIO(result.pictures[0].png)).info["parameters"]
    again = make(studio, mode=Mode.EDIT, images=(fox,), instruction="make it night", count=2, seed=9, origin=origin)
    assert (pixels(again.pictures[1].png) == pixels(result.pictures[1].png)).all(), "same seed, same edit"


def test_an_edit_of_an_edit_keeps_the_earlier_change(studio, fox):
    night = make(studio, mode=Mode.EDIT, images=(fox,), instruction="make it night", count=1, seed=1).pictures[0]
    black = make(studio, mode=Mode.EDIT, images=(night.png,), instruction="a black fox", count=1, seed=2).pictures[0]
    assert params(black.png)["prompt"].startswith("a black fox, make it night, a red fox")


def test_an_edit_of_a_users_photo_uses_the_instruction_alone(studio, sample_bytes):
    result = make(studio, mode=Mode.EDIT, images=(sample_bytes("chelsea.png"),), instruction="a black cat", count=1)
    assert params(result.pictures[0].png)["prompt"].startswith("a black cat")


@pytest.mark.parametrize("instruction", ["", "   ", "x" * 5000])
def test_an_edit_without_a_sensible_instruction_is_refused(studio, fox, instruction):
    with pytest.raises(BadRequest):
        studio.plan(ImageRequest(mode=Mode.EDIT, images=(fox,), instruction=instruction))


def test_inpaint_keeps_every_pixel_outside_the_painted_region(studio, fox):
    width, height = Image.open(io.BytesIO(fox)).size
    box = (width // 3, height // 3, 2 * width // 3, 2 * height // 3)
    request = dict(mode=Mode.INPAINT, images=(fox,), instruction="a red hat", count=2, seed=3)
    result = make(studio, **request, mask=mask_png((width, height), box, transparent=True))
    assert len(result.pictures) == 2
    source = pixels(fox)
    source_preview = pixels(encode_preview(Image.open(io.BytesIO(fox))))
    feather = max(inpaint.MIN_FEATHER_PX, round(min(width, height) * inpaint.FEATHER))
    margin = 3 * feather  # the pipeline's mask grows by two feathers; a little more for the resampling
    outside = np.ones((height, width), bool)
    outside[box[1] - margin : box[3] + margin, box[0] - margin : box[2] + margin] = False
    inside = (slice(box[1] + margin, box[3] - margin), slice(box[0] + margin, box[2] - margin))
    for picture in result.pictures:
        out = pixels(picture.png)
        assert out.shape == source.shape
        assert (out[outside] == source[outside]).all(), "outside the region the file is the source, exactly"
        assert np.abs(out[inside] - source[inside]).mean() > 5, "the region is painted anew"
        # The chat photo: outside the region (and the JPEG blocks that touch it), the source's own chat photo.
        far = np.ones((height, width), bool)
        far[box[1] - margin - 16 : box[3] + margin + 16, box[0] - margin - 16 : box[2] + margin + 16] = False
        assert np.abs(pixels(picture.preview)[far] - source_preview[far]).mean() < 1.5
    assert params(result.pictures[0].png)["instruction"] == "a red hat"
    assert params(result.pictures[0].png)["prompt"].startswith("a red hat, a red fox")


def test_inpaint_with_no_text_repaints_the_region_from_the_pictures_own_prompt(studio, fox):
    size = Image.open(io.BytesIO(fox)).size
    result = make(studio, mode=Mode.INPAINT, images=(fox,), mask=mask_png(size, (4, 4, 30, 30)), count=1)
    assert params(result.pictures[0].png)["prompt"].startswith("a red fox")


def test_a_mask_over_nearly_everything_is_a_new_picture_from_the_same_prompt(studio, fox):
    width, height = Image.open(io.BytesIO(fox)).size
    everything = mask_png((width, height), (0, 0, width - 1, height - 2))  # one row short of the whole
    assert read_mask(everything, (width, height)).getextrema() == (0, 255)
    repainted = make(studio, mode=Mode.INPAINT, images=(fox,), mask=everything, count=1, seed=5).pictures[0]
    drawn = make(studio, prompt="a red fox", style="none", aspect="16:9", count=1, seed=5).pictures[0]
    assert (repainted.width, repainted.height) == (drawn.width, drawn.height)
    assert (pixels(repainted.png) == pixels(drawn.png)).all(), "the same prompt and seed drawn anew"
    assert FULL < 1


def test_bad_masks_are_refused_at_submit_with_a_reason(studio, fox):
    size = Image.open(io.BytesIO(fox)).size

    def plan(mask: bytes):
        return studio.plan(ImageRequest(mode=Mode.INPAINT, images=(fox,), mask=mask))

    with pytest.raises(BadRequest) as empty:
        plan(mask_png(size, None))
    assert empty.value.code == ErrorCode.EMPTY_MASK
    with pytest.raises(BadRequest) as transparent:  # white but fully transparent: nothing painted
        plan(mask_png(size, None, transparent=True))
    assert transparent.value.code == ErrorCode.EMPTY_MASK
    with pytest.raises(BadRequest, match="mask is"):
        plan(mask_png((size[0] // 2, size[1]), (0, 0, 10, 10)))
    with pytest.raises(BadImage):
        plan(b"<html>not a mask</html>")
    with pytest.raises(BadImage):
        plan(b"")
