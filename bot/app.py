"""Builds the bot (Bot, Dispatcher with the services injected, middlewares, routers) and runs it:
long polling by default, a webhook (aiohttp, secret token verified) when WEBHOOK_URL is set.

Shutdown is ours, not aiogram's: aiogram neither waits for handlers in flight nor keeps FSM storage open
for them (its shutdown hook closes the storage while handlers may still run). On SIGTERM/SIGINT: new
prompts, photos and requests hear "restarting, try in a minute" at once, while updates keep coming in (a
running job can still be cancelled; commands and buttons answer); the engine finishes the running job
(≤ SHUTDOWN_DRAIN_S, then interrupts it; waiting jobs end with the same "restarting" message) and its
delivery (≤ DELIVERY_GRACE_S); then intake stops, handlers in flight finish (≤ HANDLERS_GRACE_S), Telegram
is told which updates were handled, everything closes, exit 0. The whole takes at most SHUTDOWN_DRAIN_S +
SHUTDOWN_MARGIN_S (60 + 80 s by default); a watchdog exits 1 past that bound. Typically it takes the
running job's remaining time plus a second or two.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

from aiogram import Dispatcher
from aiogram.exceptions import TelegramAPIError
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage, SimpleEventIsolation
from aiohttp import web

from engine.fleet.client import FleetService
from engine.fleet.stores import StoreError
from engine.styles import StyleError
from handlers import get_routers
from locales import Translator

from .access import AccessPolicy
from .capabilities import capabilities
from .commands import set_commands
from .config import Settings, StartupError, settings_or_explain
from .delivery import Delivery
from .intake import Intake
from .limits import DailyQuota, FloodControl, Metered
from .logs import setup_logging
from .messenger import make_bot, webhook_handler
from .metrics import READY_CHECK_S, Metrics, add_routes
from .middlewares import Access, Flood, HandledOnce, InFlight, Locale, Restarting
from .recovery import recover
from .requests import Requests
from .storage import open_store, redis_retry
from .telegram import Retrying
from .training import tell_interrupted
from .webapp import RegionApp

if TYPE_CHECKING:
    from engine.service import Engine

log = logging.getLogger(__name__)
HANDLERS_GRACE_S = 10.0
DELIVERY_GRACE_S = 30.0
ENGINE_INTERRUPT_S = 30.0  # Engine.close waits this long for an interrupted job to stop
# A user's lock in Redis (their updates one at a time) outlives a process killed while handling one: their next
# update waits until it expires (aiogram's default is 60 s). A handler takes seconds (a 20 MB download at most).
ISOLATION_LOCK_S = 15
SHUTDOWN_MARGIN_S = HANDLERS_GRACE_S + ENGINE_INTERRUPT_S + DELIVERY_GRACE_S + 10.0


def fsm_storage(settings: Settings) -> tuple[BaseStorage, BaseEventIsolation]:
    """FSM state: aiogram's RedisStorage with Redis, else memory. Event isolation is on, so each user's
    updates are handled one at a time (two album photos never race on the FSM data)."""
    if settings.redis_url:
        from aiogram.fsm.storage.redis import RedisStorage

        storage = RedisStorage.from_url(settings.redis_url, connection_kwargs=redis_retry())
        return storage, storage.create_isolation(lock_kwargs={"timeout": ISOLATION_LOCK_S})
    return MemoryStorage(), SimpleEventIsolation()


def image_service(settings: Settings) -> Engine | FleetService:
    """The engine in this process (ENGINE_BACKEND=local), or the fleet of GPU workers behind Redis (redis)."""
    if settings.engine.backend == "redis":
        if not settings.redis_url:
            raise StartupError("ENGINE_BACKEND=redis needs REDIS_URL (the Redis the workers take jobs from)")
        return FleetService(settings.redis_url, settings.engine)
    # Imported here: a bot of a fleet never loads torch or the models.
    from engine.models import ModelNotFound
    from engine.service import Engine

    try:
        return Engine(settings.engine)
    except (ModelNotFound, StyleError) as error:  # a styles file naming an unknown sampler, a missing LoRA...
        raise StartupError(str(error)) from None


class App:
    def __init__(self, settings: Settings, engine: Engine | FleetService | None = None) -> None:
        self.settings = settings
        self.translator = Translator(settings.default_locale)
        self.bot = make_bot(settings)  # Telegram, or MAX through bot/max/ (MESSENGER)
        self.store = open_store(settings.redis_url, settings.job_ttl_s, settings.picture_dir)
        self.engine = engine or image_service(settings)
        self.access = AccessPolicy(settings, self.store)
        zone = ZoneInfo(settings.quota_time_zone)
        self.quota = DailyQuota(self.store, settings.daily_quota, exempt=settings.admin_user_ids, zone=zone)
        self.flood = FloodControl(settings.flood_rate_per_min, settings.flood_burst)
        # Requests are submitted through the daily quota; /stats asks the engine itself.
        metered = Metered(self.engine, self.quota)
        family = str(self.engine.stats().get("family", ""))
        self.metrics = Metrics(self.engine, family, lambda: self.delivery.in_flight)
        self.bot.session.middleware(Retrying())  # every Bot API call: 429 waited out, network errors retried
        self.bot.session.middleware(self.metrics.bot_api())
        intake = Intake(self.bot, self.store)
        self.requests = Requests(
            metered, self.store, intake, settings.engine.default_style, refused=self.metrics.failed
        )
        self.delivery: Delivery = Delivery(self.bot, metered, self.requests, self.metrics)
        # What the messenger cannot show is never offered (bot/capabilities.py): on MAX no rich messages,
        # ephemeral messages or Mini App buttons, whatever the settings say.
        self.caps = capabilities(settings.messenger)
        self.delivery.rich = settings.rich_messages and self.caps.rich_messages
        self.delivery.ephemeral = settings.ephemeral_messages and self.caps.ephemeral_messages
        # 🖌 Region buttons lead to the Mini App there
        self.requests.public_url = settings.public_url if self.caps.web_app_buttons else ""
        self.in_flight = InFlight()
        self.dp = self._dispatcher()
        self.stopping = asyncio.Event()
        self.stop_started = 0.0
        self.started = False  # the engine runs: models loaded and warmed up

    def _dispatcher(self) -> Dispatcher:
        """The Dispatcher with the services injected (handlers name them), middlewares and routers."""
        settings = self.settings
        storage, isolation = fsm_storage(settings)
        dp = Dispatcher(
            storage=storage,
            events_isolation=isolation,
            engine=self.engine,
            store=self.store,
            translator=self.translator,
            settings=settings,
            requests=self.requests,
            delivery=self.delivery,
            intake=self.requests.intake,
            access=self.access,
            quota=self.quota,
            caps=self.caps,
            started_at=time.monotonic(),
        )
        # aiogram closes the FSM storage in its own shutdown hook, before handlers in flight are done;
        # we close it ourselves at the very end instead.
        dp.shutdown.handlers[:] = [h for h in dp.shutdown.handlers if h.callback != dp.fsm.close]
        dp.update.outer_middleware(self.in_flight)
        dp.update.outer_middleware(HandledOnce(self.store))
        dp.update.outer_middleware(Locale(self.store, self.translator))
        dp.update.outer_middleware(Access(self.access, self.flood))
        # Inner middlewares: only what a handler takes counts (not a group's chatter).
        flood = Flood(self.flood, exempt=settings.admin_user_ids)
        dp.message.middleware(flood)
        dp.callback_query.middleware(flood)
        dp.message.middleware(Restarting(lambda: self.requests.closing))
        dp.include_routers(*get_routers())
        return dp

    async def not_ready(self) -> dict[str, str]:
        """What keeps the bot from serving (empty: ready): /readyz."""
        problems = {}
        if not self.started:
            problems["engine"] = "models loading"
        if self.requests.closing:
            problems["shutdown"] = "shutting down"
        try:
            await asyncio.wait_for(self.store.ping(), READY_CHECK_S)
        except Exception as error:
            problems["storage"] = f"not answering: {type(error).__name__}"
        return problems

    # ---- running ------------------------------------------------------------------------------------
    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
        server = await self._serve_http()
        try:
            try:
                await self.engine.start()
            except StoreError as error:  # the fleet's picture store (ENGINE_FLEET_STORE) cannot be reached
                raise StartupError(str(error)) from None
            self.started = True
            self.store.start()  # the picture sweep; _close stops it with the store
            await self.access.load()
            await self._recover()
            try:
                await set_commands(self.bot, self.translator, self.requests.can_describe())
            except TelegramAPIError as error:
                log.warning("could not set the command menu: %s", error)
            if self.settings.webhook_url:
                await self._run_webhook(server)
            else:
                await self._run_polling()
        finally:
            if server is not None:
                await server.cleanup()
        return 0

    async def _serve_http(self) -> web.AppRunner | None:
        """/metrics, /healthz, /readyz (bot/metrics.py) from the start, while the models warm up; in webhook mode
        on the webhook's server, with the webhook itself; in polling mode on HTTP_PORT (0: no server)."""
        s = self.settings
        if not s.webhook_url and not s.http_port:
            if s.public_url:
                raise StartupError("PUBLIC_URL is set but HTTP_PORT=0: the Mini App needs the bot's HTTP server")
            return None
        app = web.Application()
        add_routes(app, self.metrics, self.not_ready)
        if s.public_url:  # the Mini App (bot/webapp.py): its page and API on this same server
            token = s.bot_token.get_secret_value()
            region = RegionApp(token, s.webapp_max_age_s, self.requests, self.delivery, self.translator, self.access)
            region.add_routes(app)
        if s.webhook_url:
            self.webhook_secret = s.webhook_secret.get_secret_value() or secrets.token_urlsafe(32)
            path = urlparse(s.webhook_url).path or "/webhook"
            handler = webhook_handler(s.messenger)  # MAX POSTs its own Update, with its own secret header
            handler(self.dp, self.bot, secret_token=self.webhook_secret).register(app, path=path)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        host, port, name = (
            (s.webhook_host, s.webhook_port, "WEBHOOK_PORT")
            if s.webhook_url
            else (s.http_host, s.http_port, "HTTP_PORT")
        )
        self.site = web.TCPSite(runner, host, port)
        try:
            await self.site.start()
        except OSError as error:
            await runner.cleanup()
            raise StartupError(
                f"{name}={port}: cannot listen on {host}:{port} ({error.strerror}); set a free port"
            ) from None
        log.info("HTTP server on %s:%s (/metrics, /healthz, /readyz)", host, port)
        return runner

    async def _recover(self) -> None:
        """Requests accepted before a crash and never delivered: taken up before any new update (bot/recovery.py);
        trainings a restart interrupted: their administrators asked whether to go on."""
        try:
            await recover(self.requests, self.delivery, self.translator, self.engine)
        except Exception as error:  # storage down at start: the bot serves new requests all the same
            log.warning("requests from before the restart not taken up: %s", error)
        keep_days = self.settings.engine.training_keep_days
        try:  # brand styles being trained (bot/training.py): their pictures are on the engine's disk, not in storage
            if told := await tell_interrupted(self.bot, self.engine, self.translator, keep_days):
                log.info("%d administrator(s) told of a training the restart interrupted", told)
        except Exception:
            log.exception("trainings the restart interrupted: their administrators not told")

    def _on_signal(self, sig: signal.Signals) -> None:
        if self.stopping.is_set():
            log.warning("%s again: still shutting down", sig.name)
            return
        log.info("%s: shutting down", sig.name)
        self.stop_started = time.monotonic()
        self.stopping.set()
        bound = self.settings.shutdown_drain_s + SHUTDOWN_MARGIN_S
        threading.Thread(target=_watchdog, args=(bound,), daemon=True, name="shutdown-watchdog").start()

    async def _run_polling(self) -> None:
        await self.bot.delete_webhook(drop_pending_updates=False)
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
        await self._confirm_handled_updates()
        await self._close()

    async def _run_webhook(self, server: web.AppRunner | None) -> None:
        """The webhook route is on the server `_serve_http` started."""
        await self.dp.emit_startup(bot=self.bot, **self.dp.workflow_data)
        await self.bot.set_webhook(
            self.settings.webhook_url,
            secret_token=self.webhook_secret,
            allowed_updates=self.dp.resolve_used_update_types(),
        )
        log.info("webhook listening on %s:%s", self.settings.webhook_host, self.settings.webhook_port)
        await self.stopping.wait()
        # Telegram retries updates it cannot deliver, so closing the socket loses nothing.
        await self._shutdown(self.site.stop)
        await self._close()

    async def _shutdown(self, stop_intake) -> None:
        self.requests.closing = True  # new requests: "restarting, try in a minute"; updates still come in
        await self.engine.close(self.settings.shutdown_drain_s)
        if not await self.delivery.drain(DELIVERY_GRACE_S):
            log.warning("some deliveries did not finish within %.0f s", DELIVERY_GRACE_S)
        await stop_intake()
        if not await self.in_flight.wait_idle(HANDLERS_GRACE_S):
            log.warning("%d update(s) still in handlers after %.0f s", self.in_flight.count, HANDLERS_GRACE_S)
        log.info("drained in %.1f s", time.monotonic() - self.stop_started)

    async def _confirm_handled_updates(self) -> None:
        """aiogram confirms a batch of updates only with the next getUpdates; without this the last batch,
        handled already, would come again after the restart. Updates not handled yet stay with Telegram."""
        if self.in_flight.last_update_id:
            try:
                await self.bot.get_updates(offset=self.in_flight.last_update_id + 1, limit=1, timeout=0)
            except TelegramAPIError as error:
                log.warning("could not confirm the last updates: %s", error)

    async def _close(self) -> None:
        await self.dp.fsm.close()
        await self.store.close()
        await self.bot.session.close()
        log.info("stopped cleanly in %.1f s", time.monotonic() - self.stop_started)


def _watchdog(bound: float) -> None:
    time.sleep(bound)
    logging.getLogger(__name__).error("shutdown took over %.0f s; exiting", bound)
    logging.shutdown()
    os._exit(1)


async def amain() -> int:
    settings = settings_or_explain()
    secrets = (
        settings.bot_token.get_secret_value(),
        settings.max_token.get_secret_value(),
        settings.webhook_secret.get_secret_value(),
        urlparse(settings.redis_url).password or "",
    )
    setup_logging(settings.log_level, secrets, settings.log_format)
    return await App(settings).run()


def main() -> int:
    try:
        return asyncio.run(amain())
    except StartupError as error:
        print(f"easel: {error}", file=sys.stderr)
        return 2
