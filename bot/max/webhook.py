"""MAX webhook mode: MAX POSTs each Update to WEBHOOK_URL with the subscription's secret in X-Max-Bot-Api-Secret
(dev.max.ru, POST /subscriptions); each becomes the Telegram update(s) the Dispatcher handles, in the background,
after a quick 200 (MAX retries any other answer, then unsubscribes the bot)."""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Any

from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from .session import MaxSession

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Max-Bot-Api-Secret"


class MaxWebhook(SimpleRequestHandler):
    """aiogram's webhook handler, reading MAX's header and MAX's Update instead of Telegram's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._feeding: set[asyncio.Task] = set()

    async def handle(self, request: web.Request) -> web.Response:
        bot = await self.resolve_bot(request)
        given = request.headers.get(SECRET_HEADER, "")
        if self.secret_token and not hmac.compare_digest(given, self.secret_token):
            return web.Response(status=401, text="Unauthorized")
        session = bot.session
        if not isinstance(session, MaxSession):
            raise TypeError("MaxWebhook needs a Bot on a MaxSession")
        try:
            update = await request.json()
            found = await session.updates_of(update)
        except (ValueError, KeyError, TypeError) as error:
            log.warning("MAX webhook update skipped (%s: %s)", type(error).__name__, error)
            return web.json_response({"ok": True})  # refused again and again otherwise, then unsubscribed
        for telegram in found:
            task = asyncio.create_task(self._background_feed_update(bot, telegram))
            self._feeding.add(task)
            task.add_done_callback(self._feeding.discard)
        return web.json_response({"ok": True})


__all__ = ["SECRET_HEADER", "MaxWebhook"]
