"""Fixtures of the end-to-end tests: per module, one FakeTelegram (`tg`) and one real bot process (`bot`) on it.

A module states only how its bot differs from the plain one, in module-level constants (each optional):

    BOT_ENV = {"DEFAULT_LOCALE": "ru"}  # settings over helpers.FAST_ENV
    BOT_ARGS = FAULTY_BOT  # the launcher (helpers.FAULTY_BOT: engine faults on request); default `python -m bot`
    BOT_REDIS = True  # the module's real redis-server (`redis`) is the bot's storage

`bot_env` is the bot's whole environment, for a test that starts another bot like it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from e2e.helpers import PLAIN_BOT, bot_running, fast_env
from fakegram import BotProcess, FakeTelegram
from redisproc import RedisServer


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server for the module, started only where a module or its bot asks for it."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as tg:
        yield tg


@pytest.fixture(scope="module")
def bot_env(request: pytest.FixtureRequest, engine_cache: Path) -> dict[str, str]:
    env = fast_env(engine_cache, **getattr(request.module, "BOT_ENV", {}))
    if getattr(request.module, "BOT_REDIS", False):
        env["REDIS_URL"] = request.getfixturevalue("redis").url
    return env


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bot(
    request: pytest.FixtureRequest,
    tg: FakeTelegram,
    tmp_path_factory: pytest.TempPathFactory,
    bot_env: dict[str, str],
) -> AsyncIterator[BotProcess]:
    args = getattr(request.module, "BOT_ARGS", PLAIN_BOT)
    async for proc in bot_running(tg, tmp_path_factory, bot_env, args):
        yield proc
