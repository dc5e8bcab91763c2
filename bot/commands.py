"""The command menu, per language (setMyCommands with language_code), and per chat after a language change."""

from __future__ import annotations

import contextlib

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand, BotCommandScopeChat

from locales import LOCALES, Texts, Translator

COMMANDS: tuple[str, ...] = ("start", "help", "settings", "styles", "history", "favorites", "cancel")


def commands(texts: Texts) -> list[BotCommand]:
    return [BotCommand(command=name, description=texts.plain(f"cmd-{name}")) for name in COMMANDS]


async def set_commands(bot: Bot, translator: Translator) -> None:
    for locale in LOCALES:
        await bot.set_my_commands(commands(translator[locale]), language_code=locale)
    await bot.set_my_commands(commands(translator[translator.default]))  # every other language


async def set_chat_commands(bot: Bot, texts: Texts, chat_id: int) -> None:
    """After a user picks a language in /settings, their private chat's menu follows it."""
    with contextlib.suppress(TelegramAPIError):
        await bot.set_my_commands(commands(texts), scope=BotCommandScopeChat(chat_id=chat_id))
