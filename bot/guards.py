"""Checks a button press passes before its handler runs, as middlewares of the routers that take presses:
the request the button names still exists and the presser owns it (`PressedRecord`), and a double tap makes
one job, not two (`OncePerTap`, for handlers flagged `ONCE`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.flags import get_flag
from aiogram.types import CallbackQuery, TelegramObject

from .records import JobRecord
from .requests import Requests
from .telegram import answer

ONCE = {"once": True}  # handler flag: a repeat of the same press within DOUBLE_PRESS_S is answered, not handled
DOUBLE_PRESS_S = 2.0  # the same button pressed again this soon is a double tap, not a wish for a second job


def _press(event: TelegramObject) -> CallbackQuery:
    """The press a guard checks: these middlewares go on routers' callback_query observers only."""
    if not isinstance(event, CallbackQuery):
        raise TypeError(f"a button-press guard got a {type(event).__name__}: register it on router.callback_query")
    return event


class PressedRecord(BaseMiddleware):
    """Puts `record` (the request the pressed button names, by `callback_data.job`) into the handler's data.

    Tells the presser and stops when it is gone ("expired") or someone else's ("not yours"), and when `usable`
    says the button no longer fits the record (a stale or forged one): then `stale_key` is shown.
    """

    def __init__(
        self,
        usable: Callable[[JobRecord, Any], bool] = lambda record, data: True,
        stale_key: str = "expired",
        alert: bool = True,
    ) -> None:
        self.usable = usable
        self.stale_key = stale_key
        self.alert = alert

    async def __call__(self, handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        query = _press(event)
        texts, requests = data["texts"], data["requests"]
        callback_data = data["callback_data"]
        record = await owned_record(query, requests, texts, callback_data.job)
        if record is None:
            return None
        if not self.usable(record, callback_data):
            await answer(query, texts.plain(self.stale_key), alert=self.alert)
            return None
        data["record"] = record
        return await handler(query, data)


async def owned_record(query: CallbackQuery, requests: Requests, texts, job_id: str) -> JobRecord | None:
    """The record behind a button, or None after telling the presser why not (expired / not theirs)."""
    record = await requests.get(job_id)
    if record is None:
        await answer(query, texts.plain("expired"), alert=True)
        return None
    if record.owner != query.from_user.id:
        await answer(query, texts.plain("not-yours"), alert=True)
        return None
    return record


class OncePerTap(BaseMiddleware):
    """For handlers flagged ONCE: the same button by the same user again within DOUBLE_PRESS_S is answered
    "already started" (or silently, with `quiet`) and goes no further."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self._presses: dict[tuple[int, str], float] = {}

    async def __call__(self, handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        query = _press(event)
        if not get_flag(data, "once") or self.first(query.from_user.id, query.data or ""):
            return await handler(query, data)
        await answer(query, None if self.quiet else data["texts"].plain("already-started"))
        return None

    def first(self, user: int, pressed: str) -> bool:
        now = time.monotonic()
        if len(self._presses) > 1000:
            self._presses = {key: at for key, at in self._presses.items() if now - at < DOUBLE_PRESS_S}
        last = self._presses.get((user, pressed))
        self._presses[(user, pressed)] = now
        return last is None or now - last >= DOUBLE_PRESS_S


class OwnScreen(BaseMiddleware):
    """For screens of one user's (settings): a press by anyone else is answered "not yours" and goes no further."""

    async def __call__(self, handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        query = _press(event)
        if data["callback_data"].user == query.from_user.id:
            return await handler(query, data)
        await answer(query, data["texts"].plain("not-yours"), alert=True)
        return None
