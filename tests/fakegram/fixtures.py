"""Pytest fixtures; import them into a conftest.py with ``from fakegram.fixtures import *``.

They run on the test's own (function-scoped) event loop, which is what the server and the subprocess
must share with the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio

from .process import BotProcess
from .server import FakeTelegram
from .users import FakeUser

__all__ = ["fake_tg", "make_user", "start_bot"]


@pytest_asyncio.fixture(loop_scope="function")
async def fake_tg() -> AsyncIterator[FakeTelegram]:
    """A started FakeTelegram; stopped after the test, which then fails if the fake itself crashed."""
    async with FakeTelegram() as tg:
        yield tg
    assert not tg.server_errors, "bug in fakegram:\n" + "\n".join(tg.server_errors)


@pytest.fixture
def make_user(fake_tg: FakeTelegram) -> Callable[..., FakeUser]:
    """make_user(user_id=..., first_name=..., language_code=..., chat=...) -> FakeUser on fake_tg."""
    ids = iter(range(1001, 10**6))

    def make(user_id: int | None = None, **kwargs) -> FakeUser:
        return FakeUser(fake_tg, user_id if user_id is not None else next(ids), **kwargs)

    return make


@pytest_asyncio.fixture(loop_scope="function")
async def start_bot(fake_tg: FakeTelegram, tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[BotProcess]]]:
    """``proc = await start_bot(ENGINE_MODEL="tiny", ...)``: the real bot on fake_tg, ready (it has polled).
    Every bot started is stopped after the test (SIGTERM, then SIGKILL); its log is printed on failure."""
    procs: list[BotProcess] = []

    async def start(ready: bool = True, timeout: float = 120, **env) -> BotProcess:  # noqa: ASYNC109
        proc = BotProcess(fake_tg, env=env, log_path=tmp_path / f"bot-{len(procs)}.log")
        procs.append(proc)
        await proc.start()
        if ready:
            await proc.wait_ready(timeout=timeout)
        return proc

    yield start
    for proc in procs:
        await proc.close()
        print(f"---- {proc.log_path} ----\n{proc.logs()[-20000:]}")
