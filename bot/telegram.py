"""Small, careful wrappers around Bot API calls: 429 waits, harmless edit errors, network retries, best-effort
chat actions and status edits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from enum import Enum
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
CHAT_ACTION_EVERY_S = 5.0  # Telegram shows a chat action for 5 s at most


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


class Edit(Enum):
    DONE = "done"  # the message shows the text (or already did)
    FAILED = "failed"  # not this time (a network error, a message the user deleted...)
    FLOOD = "flood"  # 429: Telegram wants the bot to slow down


async def edit_once(
    bot: Bot, chat_id: int, message_id: int, text: str, markup: InlineKeyboardMarkup | None = None
) -> tuple[Edit, float]:
    """One try at a best-effort edit (a status line), never repeated nor waited on: the status's next change
    makes a newer edit anyway, and waiting out a 429 here would hold up the delivery behind it.
    Returns what happened and, for a 429, Telegram's retry_after."""
    try:
        await bot.edit_message_text(chat_id=chat_id, message_id=message_id, text=text, reply_markup=markup)
    except TelegramRetryAfter as error:
        log.info("editMessageText: flood control, status edits paused %s s", error.retry_after)
        return Edit.FLOOD, float(error.retry_after)
    except TelegramBadRequest as error:
        if not_modified(error):
            return Edit.DONE, 0.0
        log.info("status edit of %s/%s skipped: %s", chat_id, message_id, error.message)
        return Edit.FAILED, 0.0
    except TelegramAPIError as error:
        log.info("status edit of %s/%s skipped: %s", chat_id, message_id, error)
        return Edit.FAILED, 0.0
    return Edit.DONE, 0.0


@contextlib.asynccontextmanager
async def chat_action(bot: Bot, chat_id: int, action: str, thread_id: int | None = None) -> AsyncIterator[None]:
    """Show `action` ("sending a photo…") in the chat while the body runs, re-sent every few seconds.

    A hint only: a 429 or a network error skips it and never reaches the body. (aiogram's ChatActionSender
    ends on the first such error and leaves "Task exception was never retrieved" in the log.)
    """

    async def keep_showing() -> None:
        while True:
            pause = CHAT_ACTION_EVERY_S
            try:
                await bot.send_chat_action(chat_id=chat_id, action=action, message_thread_id=thread_id)
            except TelegramRetryAfter as error:
                log.debug("chat action in %s skipped: flood control, retry after %s s", chat_id, error.retry_after)
                pause = max(pause, float(error.retry_after))
            except TelegramAPIError as error:
                log.debug("chat action in %s skipped: %s", chat_id, error)
            await asyncio.sleep(pause)

    showing = asyncio.create_task(keep_showing(), name=f"chat-action-{chat_id}")
    try:
        yield
    finally:
        showing.cancel()
        # Retrieved here, whatever it holds: the hint can neither fail the body nor be reported as lost.
        (outcome,) = await asyncio.gather(showing, return_exceptions=True)
        if not isinstance(outcome, asyncio.CancelledError):
            log.warning("chat action in %s ended: %r", chat_id, outcome)


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


def place(message: Message) -> tuple[int, int | None]:
    """(chat id, topic id) of a message: where a request made from it is answered."""
    return message.chat.id, message.message_thread_id if message.is_topic_message else None
