"""Outer middlewares on every update: in-flight counting (for shutdown), access, locale and preferences."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update

from locales import Translator

from .config import Settings
from .storage import Prefs, Store
from .telegram import answer

log = logging.getLogger(__name__)
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class InFlight(BaseMiddleware):
    """Counts updates being handled, so a shutdown can wait for them (aiogram does not)."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
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


class Locale(BaseMiddleware):
    """Puts `prefs` (the user's preferences) and `texts` (their language) into every handler's data.

    The language: the user's choice, else Telegram's language_code, else DEFAULT_LOCALE.
    """

    def __init__(self, store: Store, translator: Translator) -> None:
        self.store = store
        self.translator = translator

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user = data.get("event_from_user")
        prefs = await self.store.get_prefs(user.id) if user is not None else Prefs()
        locale = self.translator.resolve(prefs.locale, user.language_code if user is not None else None)
        data["prefs"] = prefs
        data["texts"] = self.translator[locale]
        return await handler(event, data)


class Access(BaseMiddleware):
    """A corporate bot: with allow-lists set, strangers get a polite refusal (callbacks included)."""

    def __init__(self, settings: Settings) -> None:
        self.users = settings.allowed_user_ids | settings.admin_user_ids
        self.chats = settings.allowed_chat_ids

    def allowed(self, user_id: int | None, chat_id: int | None) -> bool:
        if not self.users and not self.chats:
            return True
        return (user_id is not None and user_id in self.users) or (chat_id is not None and chat_id in self.chats)

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user, chat = data.get("event_from_user"), data.get("event_chat")
        if self.allowed(user.id if user else None, chat.id if chat else None):
            return await handler(event, data)
        log.info("refused user %s in chat %s", user.id if user else None, chat.id if chat else None)
        texts = data["texts"]
        if isinstance(event, Update) and event.message is not None and event.message.chat.type == "private":
            await event.message.answer(texts("access-denied"))
        elif isinstance(event, Update) and event.callback_query is not None:
            await answer(event.callback_query, texts.plain("access-denied"), alert=True)
        return None
