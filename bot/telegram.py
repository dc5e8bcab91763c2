"""Careful Bot API calls: one retry policy for all of them (Retrying: 429 waits, network back-off), harmless edit
errors, best-effort chat actions and status edits."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from enum import Enum
from typing import Any, TypeVar

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import AnswerCallbackQuery, GetUpdates, SendChatAction, TelegramMethod
from aiogram.types import CallbackQuery, InaccessibleMessage, InlineKeyboardMarkup, Message, TelegramObject

log = logging.getLogger(__name__)
T = TypeVar("T")
# The message under a pressed button. Older than 48 h Telegram sends it as an InaccessibleMessage: its chat and id
# only, which is all an edit, a reply or a new message in that chat needs.
PressedMessage = Message | InaccessibleMessage
ATTEMPTS = 5
MAX_RETRY_AFTER_S = 60.0
CHAT_ACTION_EVERY_S = 5.0  # Telegram shows a chat action for 5 s at most


class Retrying(BaseRequestMiddleware):
    """The one retry policy of every Bot API call, as a request middleware of the bot's session: on 429 wait
    `retry_after` (at most a minute) and call again; on a network or 5xx error back off (1, 2, 4, 8 s). So a 429 on
    any screen is waited out instead of ending as "something went wrong".

    A 429 means Telegram did nothing, so repeating a sendMediaGroup cannot duplicate the album. A dropped connection
    is ambiguous (Telegram may have sent it); a result is worth that rare risk.

    Never retried: getUpdates (aiogram's polling backs off by itself), button answers (a late one fails anyway),
    chat actions (a hint), and any call made inside `once()` (status edits: the next status makes a newer one).
    """

    async def __call__(self, make_request: NextRequestMiddlewareType, bot: Bot, method: TelegramMethod) -> Any:
        if _once.get() or isinstance(method, NEVER_RETRIED):
            return await make_request(bot, method)
        what = type(method).__name__
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return await make_request(bot, method)
            except (TelegramRetryAfter, TelegramNetworkError, TelegramServerError) as error:
                if attempt == ATTEMPTS:
                    raise
                await asyncio.sleep(backoff_s(what, attempt, error))
        raise AssertionError("unreachable")


def backoff_s(what: str, attempt: int, error: Exception) -> float:
    """How long to wait before trying `what` again after `error` (the policy of Retrying, and of downloads)."""
    if isinstance(error, TelegramRetryAfter):
        delay = min(float(error.retry_after), MAX_RETRY_AFTER_S)
        log.warning("%s: flood control, waiting %.0f s", what, delay)
        return delay
    log.warning("%s failed (%s); retrying", what, error)
    return min(0.5 * 2**attempt, 8.0)


NEVER_RETRIED = (GetUpdates, AnswerCallbackQuery, SendChatAction)
_once: contextvars.ContextVar[bool] = contextvars.ContextVar("easel_bot_api_once", default=False)


@contextlib.contextmanager
def once() -> Iterator[None]:
    """Bot API calls made inside are tried once: Retrying leaves them alone (their caller decides what a 429 means)."""
    token = _once.set(True)
    try:
        yield
    finally:
        _once.reset(token)


async def download_retrying(call: Callable[[], Awaitable[T]], what: str) -> T:
    """A file download (not a Bot API method, so not seen by Retrying), with Retrying's policy."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await call()
        except (TelegramRetryAfter, TelegramNetworkError, TelegramServerError) as error:
            if attempt == ATTEMPTS:
                raise
            await asyncio.sleep(backoff_s(what, attempt, error))
    raise AssertionError("unreachable")


def not_modified(error: TelegramBadRequest) -> bool:
    return "message is not modified" in error.message


async def edit_text(
    bot: Bot, chat_id: int, message_id: int, text: str, markup: InlineKeyboardMarkup | None = None
) -> bool:
    """Edit a text message; "not modified" is fine, a message the user deleted is skipped quietly."""
    try:
        await bot.edit_message_text(chat_id=chat_id, message_id=message_id, text=text, reply_markup=markup)
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
    return await try_once(
        lambda: bot.edit_message_text(chat_id=chat_id, message_id=message_id, text=text, reply_markup=markup),
        f"status edit of {chat_id}/{message_id}",
    )


async def try_once(call: Callable[[], Awaitable[object]], what: str) -> tuple[Edit, float]:
    """A best-effort status call (an edit, a preview photo) tried once, outside the retry policy."""
    try:
        with once():
            await call()
    except TelegramRetryAfter as error:
        log.info("%s: flood control, status edits paused %s s", what, error.retry_after)
        return Edit.FLOOD, float(error.retry_after)
    except TelegramBadRequest as error:
        if not_modified(error):
            return Edit.DONE, 0.0
        log.info("%s skipped: %s", what, error.message)
        return Edit.FAILED, 0.0
    except TelegramAPIError as error:
        log.info("%s skipped: %s", what, error)
        return Edit.FAILED, 0.0
    return Edit.DONE, 0.0


async def edit_caption(
    bot: Bot, chat_id: int, message_id: int, text: str, markup: InlineKeyboardMarkup | None = None
) -> bool:
    """Edit a photo's caption (a status that became a preview photo), like edit_text."""
    try:
        await bot.edit_message_caption(chat_id=chat_id, message_id=message_id, caption=text, reply_markup=markup)
        return True
    except TelegramBadRequest as error:
        if not_modified(error):
            return True
        log.info("caption edit of %s/%s skipped: %s", chat_id, message_id, error.message)
        return False


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


async def edit_markup(bot: Bot, message: PressedMessage, markup: InlineKeyboardMarkup | None) -> None:
    try:
        await bot.edit_message_reply_markup(chat_id=message.chat.id, message_id=message.message_id, reply_markup=markup)
    except TelegramBadRequest as error:
        if not not_modified(error):
            log.info("markup edit skipped: %s", error.message)


async def delete(bot: Bot, chat_id: int, message_id: int) -> None:
    """Delete a message (the status under a delivered album); failing to tidy up must not fail the delivery."""
    try:
        await bot.delete_message(chat_id=chat_id, message_id=message_id)
    except TelegramAPIError as error:
        log.info("delete of %s/%s skipped: %s", chat_id, message_id, error)


async def answer(query: CallbackQuery, text: str | None = None, alert: bool = False) -> None:
    """Answer a button press once, never retried: a late answer fails anyway ("query is too old", ~15 s), and
    neither that nor a 429 or a network error may stop the action itself."""
    try:
        await query.answer(text, show_alert=alert)
    except TelegramAPIError as error:
        log.info("callback answer skipped: %s", error)


def place(message: PressedMessage) -> tuple[int, int | None]:
    """(chat id, topic id) of a message: where a request made from it is answered. An inaccessible one (under a
    button older than 48 h) no longer says its topic: the chat's main thread, then."""
    if isinstance(message, InaccessibleMessage):
        return message.chat.id, None
    return message.chat.id, message.message_thread_id if message.is_topic_message else None


def pressed_message(query: CallbackQuery) -> PressedMessage:
    """The message under a pressed button. Telegram leaves it out only for a message sent in inline mode, which
    this bot never sends."""
    if query.message is None:
        raise ValueError(f"callback query {query.id} came without its message (a button in inline mode?)")
    return query.message


def bot_of(event: TelegramObject) -> Bot:
    """The Bot an update came through: aiogram binds it to every object of the update it hands a handler."""
    if event.bot is None:
        raise RuntimeError(f"{type(event).__name__} is not bound to a Bot (made outside the dispatcher?)")
    return event.bot


def sender_id(message: Message) -> int:
    """Who sent a message. Telegram leaves `from` out only in channels, whose posts this bot does not handle (a
    message on behalf of a chat carries a stand-in user)."""
    if message.from_user is None:
        raise ValueError(f"message {message.message_id} in chat {message.chat.id} has no sender")
    return message.from_user.id


async def edit_pressed(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None) -> bool:
    """Show another screen in the message under a pressed button (by chat and id: one older than 48 h too). A rich
    message (pictures and buttons together) keeps its pictures and text: only its keyboard changes."""
    message = pressed_message(query)
    if is_rich(message):
        await edit_markup(bot_of(query), message, markup)
        return True
    return await edit_text(bot_of(query), message.chat.id, message.message_id, text, markup)


def is_rich(message: PressedMessage) -> bool:
    """A rich message (Bot API 10.3: the pictures with their buttons), whose text cannot become a plain text."""
    return isinstance(message, Message) and message.rich_message is not None
