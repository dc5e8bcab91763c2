"""Fixtures of the fleet tests: one real redis-server and three GPU workers for the whole session.

    w1, w2  every model of the tiny kit (only w1 the prompt LLM and the structure adapter: fewer models to load)
    w3      the base model only (no upscaler, IP-Adapter, structure adapter or LLM): it must never get a 4K job, a
            mix or an improved prompt

Each is tests/fleet/holding_worker.py: `python -m engine.worker` unchanged, plus "[hold=S]" in a prompt holding
its job S seconds (any worker may get any plain job, so all of them must hold).

A test that kills or stops a worker starts it again (`fleet.ensure()`) before it ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
import redis as redis_sync
from e2e.helpers import PLAIN_BOT, bot_running, fast_env
from fakegram import BotProcess, FakeTelegram
from fleetproc import VISIBILITY_S, Fleet
from redisproc import RedisServer

HOLDING = ("tests/fleet/holding_worker.py",)
BASE_ONLY = {
    name: "none" for name in ("ENGINE_UPSCALER", "ENGINE_IP_ADAPTER", "ENGINE_STRUCTURE_ADAPTER", "ENGINE_LLM")
}
WORKERS = {"w1": {}, "w2": {"ENGINE_LLM": "none", "ENGINE_STRUCTURE_ADAPTER": "none"}, "w3": BASE_ONLY}
SMALL_4K = {"ENGINE_UPSCALE_LONG_SIDE": "512"}  # a "4K" of 512 px: the routing is what is tested


class SessionFleet(Fleet):
    def ensure(self) -> None:
        """Every worker of WORKERS alive (those a test killed or stopped started again)."""
        missing = [name for name in WORKERS if name not in self.procs]
        for name in missing:
            self.start(name)
        if missing:
            self.wait_live(*missing)

    def start(self, name: str, **env: str) -> None:
        super().start(name, **{**SMALL_4K, **WORKERS.get(name, {}), **env})


@pytest.fixture(scope="session")
def fleet_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("fleet-redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fleet(
    fleet_redis: RedisServer, engine_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SessionFleet]:
    workers = SessionFleet(fleet_redis.url, engine_cache, tmp_path_factory.mktemp("fleet-logs"), launcher=HOLDING)
    try:
        workers.ensure()
        yield workers
    finally:
        workers.stop_all()
        for name in WORKERS:
            print(f"---- worker {name} ----\n{workers.log(name)[-6000:]}")


# ---- the real bot on the fleet (ENGINE_BACKEND=redis), for the modules that talk to it through FakeTelegram ----
@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as tg:
        yield tg


@pytest.fixture(scope="module")
def bot_env(request: pytest.FixtureRequest, engine_cache: Path, fleet_redis: RedisServer) -> dict[str, str]:
    """The bot's whole environment: no models of its own; its storage and its fleet on the session's Redis. The
    storage of an earlier module's bot is cleared first (update ids start again at 1 with each FakeTelegram)."""
    client = redis_sync.Redis.from_url(fleet_redis.url)
    for stale in [key for key in client.scan_iter("easel:*") if not key.startswith(b"easel:fleet:")]:
        client.delete(stale)
    client.close()
    env = fast_env(
        engine_cache, ENGINE_BACKEND="redis", REDIS_URL=fleet_redis.url, **getattr(request.module, "BOT_ENV", {})
    )
    env["ENGINE_FLEET_VISIBILITY_S"] = str(VISIBILITY_S)
    return env


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bot(
    fleet: SessionFleet, tg: FakeTelegram, tmp_path_factory: pytest.TempPathFactory, bot_env: dict[str, str]
) -> AsyncIterator[BotProcess]:
    fleet.ensure()
    async for proc in bot_running(tg, tmp_path_factory, bot_env, PLAIN_BOT):
        yield proc
