"""The command menu, per language (setMyCommands with language_code), and per chat after a language change."""

from __future__ import annotations

import contextlib

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand, BotCommandScopeChat

from locales import LOCALES, Texts, Translator

COMMANDS: tuple[str, ...] = ("start", "help", "settings", "styles", "history", "favorites", "cancel", "describe")
# Listed only where the engine has a captioning model (ENGINE_CAPTION_MODEL): elsewhere it only says it cannot.
DESCRIBE = "describe"


def commands(texts: Texts, describes: bool) -> list[BotCommand]:
    names = [name for name in COMMANDS if describes or name != DESCRIBE]
    return [BotCommand(command=name, description=texts.plain(f"cmd-{name}")) for name in names]


async def set_commands(bot: Bot, translator: Translator, describes: bool) -> None:
    for locale in LOCALES:
        await bot.set_my_commands(commands(translator[locale], describes), language_code=locale)
    await bot.set_my_commands(commands(translator[translator.default], describes))  # every other language


async def set_chat_commands(bot: Bot, texts: Texts, chat_id: int, describes: bool) -> None:
    """After a user picks a language in /settings, their private chat's menu follows it."""
    with contextlib.suppress(TelegramAPIError):
        await bot.set_my_commands(commands(texts, describes), scope=BotCommandScopeChat(chat_id=chat_id))
