"""What operators watch: Prometheus metrics, and the health and readiness answers of the bot's HTTP server.

- `/metrics`: the engine's line and counters read at each scrape (waiting, running, jobs by how they ended, device
  memory), and what the bot counts as it goes (job seconds by mode and family, pictures, errors by code, Bot API
  errors and 429s by method).
- `/healthz`: 200 while the process serves its event loop (a liveness probe).
- `/readyz`: 200 when the models are loaded, storage answers and no shutdown has begun; else 503 and why.

In webhook mode these routes are on the webhook server; in polling mode on HTTP_HOST:HTTP_PORT.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramAPIError, TelegramRetryAfter
from aiogram.methods import TelegramMethod
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from engine.api import ImageService

log = logging.getLogger(__name__)
READY_CHECK_S = 2.0  # storage must answer a readiness probe this fast
JOB_SECONDS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)


class Metrics:
    """One registry per bot process: the engine read at scrape time, the bot's own counters as things happen."""

    def __init__(self, engine: ImageService, family: str, in_flight: Callable[[], int]) -> None:
        self.registry = CollectorRegistry()
        self.family = family
        self.registry.register(_EngineCollector(engine, in_flight))
        self.job_seconds = Histogram(
            "easel_job_seconds",
            "Seconds from submission to the pictures, by mode and model family",
            ["mode", "family"],
            buckets=JOB_SECONDS,
            registry=self.registry,
        )
        self.pictures = Counter("easel_pictures", "Pictures delivered", ["mode"], registry=self.registry)
        self.errors = Counter(
            "easel_errors", "Requests refused or ended without pictures, by code", ["code"], registry=self.registry
        )
        self.api_errors = Counter(
            "easel_bot_api_errors", "Bot API calls that failed, by method", ["method"], registry=self.registry
        )
        self.api_flood = Counter(
            "easel_bot_api_429",
            "Bot API calls answered 429 (flood control), by method",
            ["method"],
            registry=self.registry,
        )

    def delivered(self, mode: str, pictures: int, seconds: float) -> None:
        self.job_seconds.labels(mode, self.family).observe(seconds)
        self.pictures.labels(mode).inc(pictures)

    def failed(self, code: str) -> None:
        self.errors.labels(code).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def bot_api(self) -> BotApiCounter:
        """A request middleware for the Bot's session: counts failed calls and 429s."""
        return BotApiCounter(self)


class BotApiCounter(BaseRequestMiddleware):
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def __call__(self, make_request: NextRequestMiddlewareType, bot: Any, method: TelegramMethod) -> Any:
        try:
            return await make_request(bot, method)
        except TelegramRetryAfter:
            self.metrics.api_flood.labels(type(method).__name__).inc()
            raise
        except TelegramAPIError:
            self.metrics.api_errors.labels(type(method).__name__).inc()
            raise


class _EngineCollector:
    """The engine's state, read when Prometheus scrapes (nothing to keep in step)."""

    def __init__(self, engine: ImageService, in_flight: Callable[[], int]) -> None:
        self.engine = engine
        self.in_flight = in_flight

    def collect(self) -> Iterator[Any]:
        stats = self.engine.stats()
        jobs = GaugeMetricFamily("easel_jobs", "Jobs in the engine's line, by state", labels=["state"])
        jobs.add_metric(["waiting"], stats.get("waiting", 0))
        jobs.add_metric(["running"], stats.get("running", 0))
        yield jobs
        yield GaugeMetricFamily("easel_queue_length", "Jobs waiting in the line", value=stats.get("waiting", 0))
        yield GaugeMetricFamily("easel_deliveries_in_flight", "Jobs followed to the chat now", value=self.in_flight())
        ended = CounterMetricFamily("easel_engine_jobs", "Jobs since start, by how they ended", labels=["outcome"])
        for outcome in ("done", "failed", "cancelled", "refused"):
            ended.add_metric([outcome], stats.get(outcome, 0))
        yield ended
        memory = GaugeMetricFamily(
            "easel_device_memory_bytes", "Memory of the device the engine computes on", labels=["kind"]
        )
        for key, value in self.engine.health().items():
            if key.endswith("_mb") and isinstance(value, int | float):
                memory.add_metric([key.removesuffix("_mb")], value * 1024 * 1024)
        yield memory


def add_routes(app: web.Application, metrics: Metrics, ready: Callable[[], Awaitable[dict[str, str]]]) -> None:
    """/metrics, /healthz and /readyz on an aiohttp application. `ready` returns what is not ready (empty: all)."""

    async def metrics_page(_: web.Request) -> web.Response:
        body = metrics.exposition()  # on the loop: the engine's bookkeeping lives there
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def readyz(_: web.Request) -> web.Response:
        problems = await ready()
        return web.json_response(
            {"status": "not ready" if problems else "ready", **problems}, status=503 if problems else 200
        )

    app.router.add_get("/metrics", metrics_page)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
