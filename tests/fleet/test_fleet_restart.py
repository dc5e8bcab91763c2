"""The bot process dies (kill -9) while the fleet draws its users' pictures; the next bot follows the same jobs
(it does not submit them again) and delivers each album once. And a bot whose fleet has no live worker says so.

Each test starts its own bot processes on the fleet (the `bot` fixture is not used).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from e2e.helpers import results, shown
from e2e.reliability import sent_ok, start_request
from e2e.test_crash_recovery import kept_with_its_status
from fakegram import BotProcess, FakeTelegram, FakeUser
from fleetproc import fleet_events, jobs_of
from redisproc import RedisServer

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module")
async def launch(fleet, tg: FakeTelegram, bot_env: dict[str, str], tmp_path_factory) -> AsyncIterator:
    fleet.ensure()
    started: list[BotProcess] = []

    async def start(**env: str) -> BotProcess:
        log_path = tmp_path_factory.mktemp("bot") / "bot.log"
        proc = BotProcess(tg, env={**bot_env, **env}, log_path=log_path)
        started.append(proc)
        await proc.start()
        await proc.wait_ready(timeout=180)
        return proc

    yield start
    for proc in started:
        await proc.close()
        print(f"---- {proc.log_path} ----\n{proc.logs()[-8000:]}")


async def test_a_bot_killed_while_the_fleet_draws_delivers_after_its_restart(tg: FakeTelegram, launch, fleet_redis):
    first = await launch()
    drawing, waiting = FakeUser(tg, 901), FakeUser(tg, 902)
    status = await start_request(drawing, "a slow comet [hold=4]", until="Drawing")
    queued = await start_request(waiting, "a second comet [hold=1]")
    await kept_with_its_status(fleet_redis, drawing, status.message_id)
    await kept_with_its_status(fleet_redis, waiting, queued.message_id)
    await first.kill()

    await launch()
    for user in (drawing, waiting):
        album, _ = await results(user, timeout=60)
        assert len(album.photos) == 4
    assert len(sent_ok(tg, "sendMediaGroup", drawing.chat_id)) == 1
    assert len(sent_ok(tg, "sendMediaGroup", waiting.chat_id)) == 1
    jobs = {job["id"] for user in (901, 902) for job in jobs_of(fleet_redis.url, user)}
    runs = Counter(e["job"] for e in fleet_events(fleet_redis.url) if e["kind"] == "running" and e["job"] in jobs)
    assert len(jobs) == 2 and set(runs.values()) == {1}, "followed again after the restart, not drawn again"


async def test_with_no_live_worker_the_user_hears_the_drawing_machines_are_offline(tg: FakeTelegram, launch, tmp_path):
    empty = RedisServer(tmp_path / "redis").start()  # a Redis no worker serves
    try:
        await launch(REDIS_URL=empty.url)
        for user, locale in ((FakeUser(tg, 903), "en"), (FakeUser(tg, 904, language_code="ru"), "ru")):
            await user.send_text("a lighthouse at night")
            screen = await user.next_message(lambda m: m.buttons != [])
            await user.press(screen, screen.labels[0])
            offline = shown(locale, "error-offline")
            await user.next_message(lambda m, offline=offline: m.text == offline)
    finally:
        empty.stop()
