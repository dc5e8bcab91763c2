"""Every file in the hostile corpus either becomes a plain RGB picture or a typed, explainable refusal."""

from __future__ import annotations

import io

import pytest
from corpus import cases
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from engine import clean_picture
from engine.api import BadImage
from engine.images import Parameters, decode_image, encode_png

CASES = cases()


def test_the_corpus_is_big_enough():
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_each_file_is_decoded_or_refused_with_its_reason(case):
    if case.expect == "ok":
        image = decode_image(case.data)
        assert image.mode == "RGB" and image.size == case.size
        assert not image.info.get("exif") and not image.getexif()
    else:
        with pytest.raises(BadImage) as refused:
            decode_image(case.data)
        assert refused.value.code.value == case.expect


def test_exif_rotation_is_applied_and_no_exif_or_gps_survives_into_our_files():
    case = next(case for case in CASES if case.name.startswith("exif-rotated"))
    image = decode_image(case.data)
    assert image.size == (240, 320)
    red_corner = image.getpixel((image.width - 5, 5))  # the stored top-left corner, turned 90° clockwise
    assert red_corner[0] > 150 and red_corner[1] < 100
    stored = Image.open(io.BytesIO(encode_png(image, None)))
    assert "exif" not in stored.info and not stored.getexif()


def test_a_photo_is_kept_clean_of_its_exif_and_a_picture_of_ours_as_it_is():
    case = next(case for case in CASES if case.name.startswith("exif-rotated"))
    kept = Image.open(io.BytesIO(clean_picture(case.data)))
    assert kept.size == (240, 320) and "exif" not in kept.info and not kept.getexif()
    params = Parameters("a fox", "", "none", 1, "tiny", 2, 5.0, 240, 320, "generate")
    ours = encode_png(decode_image(case.data), params)
    assert clean_picture(ours) == ours  # its parameters are what a follow-up request reads back


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_escape_as_anything_but_bad_image(data):
    try:
        image = decode_image(data)
    except BadImage:
        return
    assert image.mode == "RGB"


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_mutated_real_files_never_escape_as_anything_but_bad_image(data):
    base = data.draw(st.sampled_from([case.data for case in CASES[:2]]))
    position = data.draw(st.integers(0, len(base) - 1))
    junk = data.draw(st.binary(min_size=1, max_size=16))
    try:
        decode_image(base[:position] + junk + base[position + len(junk) :])
    except BadImage:
        pass
