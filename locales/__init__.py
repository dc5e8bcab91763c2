"""Every user-visible string, in TOML files (one per language), and a tiny translator.

A text is `texts("key", name=value)`: HTML for messages, every value HTML-escaped (user prompts travel in
these values and the bot speaks HTML parse mode); `texts.plain(...)` for button labels and alerts, which
Telegram shows as they are.
"""

from __future__ import annotations

import html
import logging
import string
import tomllib
from pathlib import Path

log = logging.getLogger(__name__)
FOLDER = Path(__file__).parent
LOCALES: tuple[str, ...] = ("en", "ru")


def load(locale: str) -> dict[str, str]:
    with (FOLDER / f"{locale}.toml").open("rb") as file:
        return {str(key): str(value) for key, value in tomllib.load(file).items()}


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


class Texts:
    """The strings of one language (missing keys fall back to English, then to the key itself)."""

    def __init__(self, locale: str, strings: dict[str, str], fallback: dict[str, str]) -> None:
        self.locale = locale
        self._strings = strings
        self._fallback = fallback

    def has(self, key: str) -> bool:
        return key in self._strings or key in self._fallback

    def _raw(self, key: str) -> str:
        text = self._strings.get(key, self._fallback.get(key))
        if text is None:
            log.warning("missing locale key %r", key)
            return key
        return text

    def __call__(self, key: str, **values: object) -> str:
        """HTML text: the values are escaped."""
        return self._raw(key).format_map({k: html.escape(str(v), quote=False) for k, v in values.items()})

    def plain(self, key: str, **values: object) -> str:
        """Plain text (button labels, alerts): nothing is escaped."""
        return self._raw(key).format_map({k: str(v) for k, v in values.items()})


class Translator:
    def __init__(self, default: str = "ru") -> None:
        self.default = default if default in LOCALES else LOCALES[0]
        self._strings = {locale: load(locale) for locale in LOCALES}
        self._texts = {locale: Texts(locale, strings, self._strings["en"]) for locale, strings in self._strings.items()}

    def resolve(self, chosen: str | None, telegram_language: str | None) -> str:
        """The user's choice, else Telegram's language_code (ru-RU -> ru), else the default."""
        if chosen in LOCALES:
            return chosen
        code = (telegram_language or "").split("-")[0].lower()
        return code if code in LOCALES else self.default

    def __getitem__(self, locale: str) -> Texts:
        return self._texts.get(locale, self._texts[self.default])
