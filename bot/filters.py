"""Which messages are for the bot: in private chats all; in groups those that mention it or reply to it."""

from __future__ import annotations

import re

from aiogram import Bot
from aiogram.filters import Filter
from aiogram.fsm.context import FSMContext
from aiogram.types import Message


def _mention(text: str, username: str) -> re.Match | None:
    return re.search(rf"@{re.escape(username)}\b", text, flags=re.IGNORECASE)


async def addressed_text(message: Message, bot: Bot) -> str | None:
    """The message's text (or caption) without the bot's @mention, if the message is for the bot."""
    text = message.text or message.caption or ""
    if message.chat.type == "private":
        return text.strip()
    me = await bot.me()
    found = _mention(text, me.username or "")
    if me.username and found:
        return (text[: found.start()] + text[found.end() :]).strip()
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.id == me.id:
        return text.strip()
    return None


class Addressed(Filter):
    """Passes messages meant for the bot and hands the handler `prompt`: the text without the mention."""

    async def __call__(self, message: Message, bot: Bot) -> bool | dict:
        prompt = await addressed_text(message, bot)
        return False if prompt is None else {"prompt": prompt}


class AddressedMedia(Filter):
    """Like Addressed, and in groups also the rest of an album whose first photo was addressed."""

    async def __call__(self, message: Message, bot: Bot, state: FSMContext) -> bool | dict:
        prompt = await addressed_text(message, bot)
        if prompt is not None:
            return {"prompt": prompt}
        if message.media_group_id and (await state.get_data()).get("album") == message.media_group_id:
            return {"prompt": ""}
        return False
