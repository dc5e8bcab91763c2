"""/help and the command menu offer /describe only where the server can describe a photo (a captioning model,
ENGINE_CAPTION_MODEL), in both languages; the menu is set per language, and per chat after a language change."""

from __future__ import annotations

import asyncio

import pytest

from bot import screens
from bot.commands import COMMANDS, commands, set_chat_commands, set_commands
from locales import LOCALES, Translator

TEXTS = Translator("en")


class MenuBot:
    """Records setMyCommands as the Bot API server would keep it: by scope and language."""

    def __init__(self) -> None:
        self.menus: dict[tuple[str, str], list[str]] = {}

    async def set_my_commands(self, commands, scope=None, language_code=None) -> bool:
        where = f"chat {scope.chat_id}" if scope is not None else "all"
        self.menus[(where, language_code or "")] = [command.command for command in commands]
        return True


@pytest.mark.parametrize("describes", [True, False])
def test_the_menu_lists_describe_only_where_a_photo_can_be_described(describes: bool):
    bot = MenuBot()
    asyncio.run(set_commands(bot, TEXTS, describes))  # type: ignore[arg-type]
    asyncio.run(set_chat_commands(bot, TEXTS["ru"], 7, describes))  # type: ignore[arg-type]
    assert set(bot.menus) == {("all", locale) for locale in (*LOCALES, "")} | {("chat 7", "")}
    everything = list(COMMANDS) if describes else [name for name in COMMANDS if name != "describe"]
    assert all(menu == everything for menu in bot.menus.values())
    assert ("describe" in everything) == describes


@pytest.mark.parametrize("locale", LOCALES)
def test_describe_has_its_menu_line_in_each_language(locale: str):
    said = {"en": "Prompts that describe a photo", "ru": "Запросы, которые описывают фото"}[locale]
    described = {command.command: command.description for command in commands(TEXTS[locale], True)}
    assert described["describe"] == said


@pytest.mark.parametrize("locale", LOCALES)
def test_help_names_describe_only_where_a_photo_can_be_described(locale: str):
    texts = TEXTS[locale]
    with_describe, without = (screens.help_text(texts, 4, describes) for describes in (True, False))
    assert "/describe" in with_describe and "/describe" not in without
    assert with_describe.startswith(without)  # the same help, one line more
    assert with_describe.endswith(texts("help-describe"))
    button = texts.plain("btn-photo-describe")
    assert button in with_describe and button.startswith("💬")  # the button it names, as the photo keyboard shows it
    assert without == texts("help", pictures=texts.plain("n-pictures", count=4))
