"""Fixtures of the fleet tests: one real redis-server and three GPU workers for the whole session.

    w1, w2  tests/fleet/holding_worker.py (the real worker; "[hold=S]" in a prompt holds its job S seconds)
    w3      `python -m engine.worker` with no upscaler (ENGINE_UPSCALER=none): it must never get a 4K job

A test that kills or stops a worker starts it again (`fleet.ensure()`) before it ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fleetproc import Fleet
from redisproc import RedisServer

HOLDING = ("tests/fleet/holding_worker.py",)
WORKERS = {"w1": {}, "w2": {}, "w3": {"ENGINE_UPSCALER": "none"}}
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
        self.launcher = ("-m", "engine.worker") if name == "w3" else HOLDING
        super().start(name, **{**SMALL_4K, **WORKERS.get(name, {}), **env})


@pytest.fixture(scope="session")
def fleet_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("fleet-redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fleet(fleet_redis: RedisServer, engine_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SessionFleet]:
    workers = SessionFleet(fleet_redis.url, engine_cache, tmp_path_factory.mktemp("fleet-logs"))
    try:
        workers.ensure()
        yield workers
    finally:
        workers.stop_all()
        for name in WORKERS:
            print(f"---- worker {name} ----\n{workers.log(name)[-6000:]}")
