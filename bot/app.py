"""Builds the bot (Bot, Dispatcher with the services injected, middlewares, routers) and runs it:
long polling by default, a webhook (aiohttp, secret token verified) when WEBHOOK_URL is set.

Shutdown is ours, not aiogram's: aiogram neither waits for handlers in flight nor keeps FSM storage open
for them (BOT.md). On SIGTERM/SIGINT: stop taking updates (unread ones stay with Telegram for the next
start), let handlers in flight finish (≤ HANDLERS_GRACE_S; a new request among them hears "restarting,
try in a minute"), let the engine finish the running job (≤ SHUTDOWN_DRAIN_S, then interrupt it; waiting
jobs end with the same "restarting" message), finish deliveries (≤ DELIVERY_GRACE_S), close, exit 0.
The whole takes at most SHUTDOWN_DRAIN_S + SHUTDOWN_MARGIN_S; a watchdog exits 1 past that bound.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import threading
import time
from urllib.parse import urlparse

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage, SimpleEventIsolation

from engine.service import Engine
from handlers import get_routers
from locales import Translator

from .commands import set_commands
from .config import Settings
from .logs import setup_logging
from .middlewares import Access, InFlight, Locale
from .storage import open_store, redis_retry
from .telegram import retrying
from .workshop import Workshop

log = logging.getLogger(__name__)
HANDLERS_GRACE_S = 10.0
DELIVERY_GRACE_S = 30.0
ENGINE_INTERRUPT_S = 30.0  # Engine.close waits this long for an interrupted job to stop
SHUTDOWN_MARGIN_S = HANDLERS_GRACE_S + ENGINE_INTERRUPT_S + DELIVERY_GRACE_S + 10.0


def fsm_storage(settings: Settings) -> tuple[BaseStorage, BaseEventIsolation]:
    """FSM state: aiogram's RedisStorage with Redis, else memory. Event isolation is on, so each user's
    updates are handled one at a time (two album photos never race on the FSM data)."""
    if settings.redis_url:
        from aiogram.fsm.storage.redis import RedisStorage

        storage = RedisStorage.from_url(settings.redis_url, connection_kwargs=redis_retry())
        return storage, storage.create_isolation()
    return MemoryStorage(), SimpleEventIsolation()


class App:
    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.translator = Translator(settings.default_locale)
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
        self.bot = Bot(
            settings.bot_token.get_secret_value(),
            session=session,
            default=DefaultBotProperties(parse_mode=ParseMode.HTML),
        )
        self.store = open_store(settings.redis_url, settings.job_ttl_s)
        self.engine = engine or Engine(settings.engine)
        self.workshop = Workshop(
            self.bot, self.engine, self.store, self.engine.studio.styles, settings.engine.default_style
        )
        self.in_flight = InFlight()
        storage, isolation = fsm_storage(settings)
        self.dp = Dispatcher(
            storage=storage,
            events_isolation=isolation,
            engine=self.engine,
            store=self.store,
            translator=self.translator,
            settings=settings,
            workshop=self.workshop,
        )
        # aiogram closes the FSM storage in its own shutdown hook, before handlers in flight are done;
        # we close it ourselves at the very end instead.
        self.dp.shutdown.handlers[:] = [h for h in self.dp.shutdown.handlers if h.callback != self.dp.fsm.close]
        self.dp.update.outer_middleware(self.in_flight)
        self.dp.update.outer_middleware(Locale(self.store, self.translator))
        self.dp.update.outer_middleware(Access(settings))
        self.dp.include_routers(*get_routers())
        self.stopping = asyncio.Event()

    # ---- running ------------------------------------------------------------------------------------
    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
        await self.engine.start()
        try:
            await set_commands(self.bot, self.translator)
        except TelegramAPIError as error:
            log.warning("could not set the command menu: %s", error)
        if self.settings.webhook_url:
            await self._run_webhook()
        else:
            await self._run_polling()
        return 0

    def _on_signal(self, sig: signal.Signals) -> None:
        if self.stopping.is_set():
            log.warning("%s again: still shutting down", sig.name)
            return
        log.info("%s: shutting down", sig.name)
        self.stopping.set()
        bound = self.settings.shutdown_drain_s + SHUTDOWN_MARGIN_S
        threading.Thread(target=_watchdog, args=(bound,), daemon=True, name="shutdown-watchdog").start()

    async def _run_polling(self) -> None:
        await retrying(lambda: self.bot.delete_webhook(drop_pending_updates=False), "deleteWebhook")
        polling = asyncio.create_task(
            self.dp.start_polling(
                self.bot,
                handle_signals=False,
                close_bot_session=False,
                allowed_updates=self.dp.resolve_used_update_types(),
            )
        )
        stop = asyncio.create_task(self.stopping.wait())
        await asyncio.wait({polling, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if polling.done():  # polling ended by itself: an error worth raising
            polling.result()
        await self._shutdown(self.dp.stop_polling)

    async def _run_webhook(self) -> None:
        from aiogram.webhook.aiohttp_server import SimpleRequestHandler
        from aiohttp import web

        secret = self.settings.webhook_secret.get_secret_value() or secrets.token_urlsafe(32)
        path = urlparse(self.settings.webhook_url).path or "/webhook"
        app = web.Application()
        SimpleRequestHandler(self.dp, self.bot, secret_token=secret).register(app, path=path)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.settings.webhook_host, self.settings.webhook_port)
        await site.start()
        await self.dp.emit_startup(bot=self.bot, **self.dp.workflow_data)
        await self.bot.set_webhook(
            self.settings.webhook_url, secret_token=secret, allowed_updates=self.dp.resolve_used_update_types()
        )
        log.info("webhook listening on %s:%s%s", self.settings.webhook_host, self.settings.webhook_port, path)
        await self.stopping.wait()
        # Telegram retries updates it cannot deliver, so closing the socket first loses nothing.
        await self._shutdown(site.stop)
        await runner.cleanup()

    async def _shutdown(self, stop_intake) -> None:
        started = time.monotonic()
        self.workshop.closing = True
        await stop_intake()
        if not await self.in_flight.wait_idle(HANDLERS_GRACE_S):
            log.warning("%d update(s) still in handlers after %.0f s", self.in_flight.count, HANDLERS_GRACE_S)
        await self.engine.close(self.settings.shutdown_drain_s)
        if not await self.workshop.delivery.drain(DELIVERY_GRACE_S):
            log.warning("some deliveries did not finish within %.0f s", DELIVERY_GRACE_S)
        await self.dp.fsm.close()
        await self.store.close()
        await self.bot.session.close()
        log.info("stopped cleanly in %.1f s", time.monotonic() - started)


def _watchdog(bound: float) -> None:
    time.sleep(bound)
    logging.getLogger(__name__).error("shutdown took over %.0f s; exiting", bound)
    logging.shutdown()
    os._exit(1)


async def amain() -> int:
    settings = Settings()
    setup_logging(
        settings.log_level, (settings.bot_token.get_secret_value(), settings.webhook_secret.get_secret_value())
    )
    app = App(settings)
    return await app.run()


def main() -> int:
    return asyncio.run(amain())
