"""Midjourney-style parameters after a prompt: what a user types on a phone, and what each bad value is told."""

from __future__ import annotations

import pytest

from bot.params import MAX_SEED, BadParameter, Parameters, find_style, parse, record_fields

STYLES = {
    "none": {"en": "No style", "ru": "Без стиля"},
    "comic": {"en": "Comic book", "ru": "Комикс"},
    "anime": {"en": "Anime", "ru": "Аниме"},
}


def test_a_prompt_without_parameters_is_left_as_typed():
    assert parse("a fox in the snow") == ("a fox in the snow", Parameters())
    assert parse("a well-known fox - in snow") == ("a well-known fox - in snow", Parameters())


def test_every_parameter_is_read_and_shown_as_typed():
    prompt, parameters = parse("a fox at dawn --ar 16:9 --seed 42 --no text, people --style anime --n 2 --fast")
    assert prompt == "a fox at dawn"
    assert parameters == Parameters(aspect="16:9", seed=42, negative="text, people", style="anime", count=2, fast=True)
    assert parameters.shown("anime") == "--ar 16:9 --seed 42 --no text, people --style anime --n 2 --fast"


def test_phones_em_and_en_dashes_count_as_two_hyphens():
    assert parse("a fox —ar 9:16 –seed 7") == ("a fox", Parameters(aspect="9:16", seed=7))
    assert parse("лиса —AR 3:4 —no текст")[1] == Parameters(aspect="3:4", negative="текст")


def test_a_dash_before_a_word_that_is_no_option_is_prose():
    assert parse("a cat —fluffy and small —ar 1:1") == ("a cat —fluffy and small", Parameters(aspect="1:1"))


def test_the_last_of_a_repeated_parameter_counts():
    assert parse("x --n 1 --n 3")[1].count == 3


@pytest.mark.parametrize(
    ("typed", "name", "problem"),
    [
        ("a fox --ar 7:5", "ar", "aspect"),
        ("a fox --ar wide", "ar", "aspect"),
        ("a fox --seed -1", "seed", "seed"),
        ("a fox --seed lucky", "seed", "seed"),
        (f"a fox --seed {MAX_SEED + 1}", "seed", "seed"),
        ("a fox --n 0", "n", "count"),
        ("a fox --n 9", "n", "count"),
        ("a fox --v 6", "v", "unknown"),
        ("a fox --chaos 50", "chaos", "unknown"),
        ("a fox --ar", "ar", "missing"),
        ("a fox --no", "no", "missing"),
        ("a fox --fast please", "fast", "no-value"),
    ],
)
def test_a_bad_value_is_named(typed: str, name: str, problem: str):
    with pytest.raises(BadParameter) as bad:
        parse(typed)
    assert (bad.value.name, bad.value.problem) == (name, problem)


def test_aspects_written_other_ways_are_understood():
    assert parse("x --ar 16x9")[1].aspect == "16:9"
    assert parse("x --aspect 2/3")[1].aspect == "2:3"


def test_a_style_is_found_by_id_or_name_in_any_language():
    assert find_style("anime", STYLES) == "anime"
    assert find_style("Comic Book", STYLES) == "comic"
    assert find_style("comic-book", STYLES) == "comic"
    assert find_style("комикс", STYLES) == "comic"
    assert find_style("baroque", STYLES) is None


def test_parameters_become_the_fields_of_the_request():
    _, parameters = parse("a fox --style Комикс --ar 4:3 --no blur --fast")
    assert record_fields(parameters, STYLES) == {
        "style": "comic",
        "aspect": "4:3",
        "negative": "blur",
        "fast": True,
        "params": "--ar 4:3 --no blur --style comic --fast",
    }
    assert record_fields(Parameters(), STYLES) == {}
    with pytest.raises(BadParameter) as bad:
        record_fields(parse("a fox --style baroque")[1], STYLES)
    assert (bad.value.problem, bad.value.value) == ("style", "baroque")
