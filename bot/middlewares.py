"""Middlewares. Outer, on every update: in-flight counting (for shutdown), locale and preferences, access.
Inner, on messages and button presses that found a handler: flood control."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, Message, TelegramObject, Update

from locales import Translator

from .access import AccessPolicy
from .filters import addressed_text
from .limits import MAX_TRACKED_USERS, FloodControl, Verdict
from .storage import Prefs, Store
from .telegram import answer

log = logging.getLogger(__name__)
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class InFlight(BaseMiddleware):
    """Counts updates being handled, so a shutdown can wait for them (aiogram does not), and remembers the
    latest update id, so a shutdown can tell Telegram which updates were handled."""

    def __init__(self) -> None:
        self.count = 0
        self.last_update_id = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if isinstance(event, Update):
            self.last_update_id = max(self.last_update_id, event.update_id)
        self.count += 1
        self._idle.clear()
        try:
            return await handler(event, data)
        finally:
            self.count -= 1
            if self.count == 0:
                self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:  # noqa: ASYNC109
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except TimeoutError:
            return False


class HandledOnce(BaseMiddleware):
    """An update is handled once, even across a crash: Telegram sends again every update it was not told was
    handled (the last batch before a kill -9), and a press handled twice would make a second request."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        update_id = event.update_id if isinstance(event, Update) else None
        if update_id is not None and await self._handled(update_id):
            log.info("update %s was handled before a restart; skipped", update_id)
            return None
        try:
            return await handler(event, data)
        finally:
            if update_id is not None:
                with contextlib.suppress(Exception):  # storage down: at worst it is handled again after a crash
                    await self.store.mark_handled(update_id)

    async def _handled(self, update_id: int) -> bool:
        try:
            return await self.store.handled(update_id)
        except Exception:  # storage down: handle it (the outage itself gets its answer downstream)
            return False


class Locale(BaseMiddleware):
    """Puts `prefs` (the user's preferences) and `texts` (their language) into every handler's data.

    The language: the user's choice, else Telegram's language_code, else DEFAULT_LOCALE. While storage does
    not answer (a Redis restart), the defaults: the update is still handled, and may end in a message.
    """

    def __init__(self, store: Store, translator: Translator) -> None:
        self.store = store
        self.translator = translator

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user = data.get("event_from_user")
        prefs = Prefs()
        if user is not None:
            try:
                prefs = await self.store.get_prefs(user.id)
            except Exception as error:
                log.warning("preferences of %s not read: %s", user.id, error)
        locale = self.translator.resolve(prefs.locale, user.language_code if user is not None else None)
        data["prefs"] = prefs
        data["texts"] = self.translator[locale]
        return await handler(event, data)


class Access(BaseMiddleware):
    """Every update, callbacks included, passes the access policy first; a stranger gets a polite refusal
    (in a group only when they address the bot) and never reaches a handler, so never the GPU. Refusals are
    flood-controlled too: a stranger's burst gets a few answers, not one per message."""

    def __init__(self, policy: AccessPolicy, flood: FloodControl) -> None:
        self.policy = policy
        self.flood = flood

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        await self.policy.ensure_loaded()
        user, chat = data.get("event_from_user"), data.get("event_chat")
        user_id, chat_id = (user.id if user else None), (chat.id if chat else None)
        if self.policy.allowed(user_id, chat_id):
            return await handler(event, data)
        log.info("refused user %s in chat %s", user_id, chat_id)
        if not isinstance(event, Update) or user_id is None:
            return None
        quiet = self.flood.take(user_id) == Verdict.DROP
        texts = data["texts"]
        if event.callback_query is not None:
            await answer(event.callback_query, None if quiet else texts.plain("access-denied"), alert=not quiet)
        elif event.message is not None and not quiet and await addressed_text(event.message, data["bot"]) is not None:
            with contextlib.suppress(TelegramAPIError):
                await event.message.answer(texts("access-denied"))
        return None


class Flood(BaseMiddleware):
    """Flood control for messages and button presses that reach a handler (so a group's chatter that is not
    for the bot costs nothing). Over the rate: one short warning (an alert for a button), then silence for the
    rest of that burst. The photos of one album count as one message; administrators are not limited."""

    def __init__(self, flood: FloodControl, exempt: frozenset[int] = frozenset()) -> None:
        self.flood = flood
        self.exempt = exempt  # administrators
        self._albums: dict[int, str] = {}  # user -> the album whose first photo was counted

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user = data.get("event_from_user")
        if user is None or user.id in self.exempt:
            return await handler(event, data)
        if isinstance(event, Message) and event.media_group_id:
            if self._albums.get(user.id) == event.media_group_id:
                return await handler(event, data)
            if len(self._albums) >= MAX_TRACKED_USERS:
                self._albums.clear()
            self._albums[user.id] = event.media_group_id
        verdict = self.flood.take(user.id)
        if verdict == Verdict.PASS:
            return await handler(event, data)
        log.info("flood control: %s from user %s", verdict, user.id)
        texts = data["texts"]
        if isinstance(event, CallbackQuery):
            warn = verdict == Verdict.WARN
            await answer(event, texts.plain("flood-wait") if warn else None, alert=warn)
        elif isinstance(event, Message) and verdict == Verdict.WARN:
            with contextlib.suppress(TelegramAPIError):
                await event.reply(texts("flood-wait"))
        return None


class Restarting(BaseMiddleware):
    """After SIGTERM updates still come in while the running job finishes: commands (/cancel, /help, /settings)
    and buttons work as usual, and a new prompt or photo hears "restarting, try in a minute" at once (a button
    that would start a request hears it from the request service)."""

    def __init__(self, closing: Callable[[], bool]) -> None:
        self.closing = closing

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not self.closing() or not isinstance(event, Message) or (event.text or "").startswith("/"):
            return await handler(event, data)
        with contextlib.suppress(TelegramAPIError):
            await event.reply(data["texts"]("restarting"))
        return None
