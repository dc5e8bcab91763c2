"""Every user-visible string, in TOML files (one per language), and a tiny translator.

A text is `texts("key", name=value)`: HTML for messages, every value HTML-escaped (user prompts travel in
these values and the bot speaks HTML parse mode); `texts.plain(...)` for button labels and alerts, which
Telegram shows as they are.

A text that names a number of things is a table of plural forms, chosen by its `count` value with the
language's own rule (CLDR): English `one`/`other` ("1 picture", "2 pictures"), Russian `one`/`few`/`many`
("1 запрос", "2 запроса", "5 запросов"):

    cancel-done = { one = "Cancelled {count} request.", other = "Cancelled {count} requests." }
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
# A locale's text: one string, or its plural forms by CLDR category.
Text = str | dict[str, str]
PLURAL_FORMS: dict[str, tuple[str, ...]] = {"en": ("one", "other"), "ru": ("one", "few", "many")}


def load(locale: str) -> dict[str, Text]:
    with (FOLDER / f"{locale}.toml").open("rb") as file:
        raw = tomllib.load(file)
    return {
        str(key): {str(form): str(text) for form, text in value.items()} if isinstance(value, dict) else str(value)
        for key, value in raw.items()
    }


def placeholders(text: Text) -> set[str]:
    forms = text.values() if isinstance(text, dict) else (text,)
    return {name for form in forms for _, name, _, _ in string.Formatter().parse(form) if name}


def plural_form(locale: str, count: object) -> str:
    """The CLDR plural category of `count` in `locale` (integers; anything else reads as many/other)."""
    try:
        n = abs(int(str(count)))
    except ValueError:
        return "many" if locale == "ru" else "other"
    if locale == "ru":
        if n % 10 == 1 and n % 100 != 11:
            return "one"
        if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
            return "few"
        return "many"
    return "one" if n == 1 else "other"


class Texts:
    """The strings of one language (missing keys fall back to English, then to the key itself)."""

    def __init__(self, locale: str, strings: dict[str, Text], fallback: dict[str, Text]) -> None:
        self.locale = locale
        self._strings = strings
        self._fallback = fallback

    def has(self, key: str) -> bool:
        return key in self._strings or key in self._fallback

    def _raw(self, key: str, values: dict[str, object]) -> str:
        locale, text = self.locale, self._strings.get(key)
        if text is None:
            locale, text = "en", self._fallback.get(key)
        if text is None:
            log.warning("missing locale key %r", key)
            return key
        if isinstance(text, dict):  # plural forms, by the `count` value
            form = plural_form(locale, values.get("count"))
            return text.get(form) or text.get("other") or text.get("many") or next(iter(text.values()))
        return text

    def __call__(self, key: str, **values: object) -> str:
        """HTML text: the values are escaped."""
        return self._raw(key, values).format_map({k: html.escape(str(v), quote=False) for k, v in values.items()})

    def plain(self, key: str, **values: object) -> str:
        """Plain text (button labels, alerts): nothing is escaped."""
        return self._raw(key, values).format_map({k: str(v) for k, v in values.items()})


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
