"""Small, careful wrappers around Bot API calls: 429 waits, harmless edit errors, network retries."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

log = logging.getLogger(__name__)
T = TypeVar("T")
ATTEMPTS = 5
MAX_RETRY_AFTER_S = 60.0


async def retrying(call: Callable[[], Awaitable[T]], what: str) -> T:
    """Run a Bot API call; on 429 wait retry_after and call again, on network/5xx errors back off.

    A 429 means Telegram did nothing, so repeating a sendMediaGroup cannot duplicate the album.
    A dropped connection is ambiguous (Telegram may have sent it); a result is worth that rare risk.
    """
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await call()
        except TelegramRetryAfter as error:
            if attempt == ATTEMPTS:
                raise
            delay = min(float(error.retry_after), MAX_RETRY_AFTER_S)
            log.warning("%s: flood control, waiting %.0f s", what, delay)
            await asyncio.sleep(delay)
        except (TelegramNetworkError, TelegramServerError) as error:
            if attempt == ATTEMPTS:
                raise
            log.warning("%s failed (%s); retrying", what, error)
            await asyncio.sleep(min(0.5 * 2**attempt, 8.0))
    raise AssertionError("unreachable")


def not_modified(error: TelegramBadRequest) -> bool:
    return "message is not modified" in error.message


async def edit_text(
    bot: Bot, chat_id: int, message_id: int, text: str, markup: InlineKeyboardMarkup | None = None
) -> bool:
    """Edit a text message; "not modified" is fine, a message the user deleted is skipped quietly."""
    try:
        await retrying(
            lambda: bot.edit_message_text(chat_id=chat_id, message_id=message_id, text=text, reply_markup=markup),
            "editMessageText",
        )
        return True
    except TelegramBadRequest as error:
        if not_modified(error):
            return True
        log.info("edit of %s/%s skipped: %s", chat_id, message_id, error.message)
        return False


async def edit_markup(bot: Bot, message: Message, markup: InlineKeyboardMarkup | None) -> None:
    try:
        await retrying(
            lambda: bot.edit_message_reply_markup(
                chat_id=message.chat.id, message_id=message.message_id, reply_markup=markup
            ),
            "editMessageReplyMarkup",
        )
    except TelegramBadRequest as error:
        if not not_modified(error):
            log.info("markup edit skipped: %s", error.message)


async def delete(bot: Bot, chat_id: int, message_id: int) -> None:
    """Delete a message (the status under a delivered album); failing to tidy up must not fail the delivery."""
    try:
        await retrying(lambda: bot.delete_message(chat_id=chat_id, message_id=message_id), "deleteMessage")
    except TelegramAPIError as error:
        log.info("delete of %s/%s skipped: %s", chat_id, message_id, error)


async def answer(query: CallbackQuery, text: str | None = None, alert: bool = False) -> None:
    """Answer a button press once, never retried: a late answer fails anyway ("query is too old", ~15 s), and
    neither that nor a 429 or a network error may stop the action itself."""
    try:
        await query.answer(text, show_alert=alert)
    except TelegramAPIError as error:
        log.info("callback answer skipped: %s", error)
