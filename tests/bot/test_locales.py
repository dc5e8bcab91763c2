"""Both languages have every text, with the same placeholders, and every text is valid Telegram HTML."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fakegram.objects import ApiError, parse_html

from bot.commands import COMMANDS
from engine.api import ErrorCode, Mode
from locales import LOCALES, Translator, load, placeholders

REPO = Path(__file__).resolve().parents[2]
CODE = [*REPO.glob("bot/*.py"), *REPO.glob("handlers/*.py"), *REPO.glob("keyboards/*.py")]


def test_both_languages_have_the_same_keys_and_placeholders():
    english, russian = load("en"), load("ru")
    assert set(english) == set(russian)
    for key in english:
        assert placeholders(english[key]) == placeholders(russian[key]), key


def test_every_key_the_code_uses_exists():
    keys = set(load("en"))
    used = set()
    for path in CODE:
        used |= set(re.findall(r"""texts(?:\.plain)?\(\s*["']([a-z0-9_-]+)["']""", path.read_text()))
    used |= {f"error-{code.value}" for code in ErrorCode}
    used |= {f"mode-{mode.value}" for mode in Mode}
    used |= {f"cmd-{name}" for name in COMMANDS}
    used |= {f"example-{n}" for n in (1, 2, 3)}
    assert used - keys == set()
    assert len(used) > 60


@pytest.mark.parametrize("locale", LOCALES)
def test_every_text_is_valid_telegram_html_even_with_hostile_values(locale: str):
    texts = Translator()[locale]
    hostile = "<b>bold</i> & </a>"
    for key, raw in load(locale).items():
        values = dict.fromkeys(placeholders(raw), hostile)
        try:
            text, _ = parse_html(texts(key, **values))
        except ApiError as error:
            pytest.fail(f"{locale}:{key}: {error}")
        if values:
            assert hostile in text, key


def test_the_language_is_the_users_choice_then_telegrams_then_the_default():
    translator = Translator("ru")
    assert translator.resolve("en", "ru") == "en"
    assert translator.resolve(None, "en-GB") == "en"
    assert translator.resolve(None, "de") == "ru"
    assert translator.resolve(None, None) == "ru"
    assert translator["en"]("prompt-cut", limit=5) != translator["ru"]("prompt-cut", limit=5)
