"""What an operator sees of the running bot: /metrics (scraped and parsed as Prometheus does) while a job runs
and after it, and /healthz and /readyz (with Redis going away and coming back). A bot that cannot start:
test_startup_errors.py."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from e2e.helpers import FAULTY_BOT, results
from e2e.reliability import start_request
from fakegram import FakeTelegram, FakeUser
from prometheus_client.parser import text_string_to_metric_families
from redisproc import RedisServer, free_port

pytestmark = pytest.mark.asyncio(loop_scope="module")
PORT = free_port()
BOT_ENV = {"HTTP_PORT": str(PORT), "HTTP_HOST": "127.0.0.1"}
BOT_ARGS = FAULTY_BOT
BOT_REDIS = True


async def get(path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{PORT}{path}") as response:
        return response.status, await response.text()


async def scrape() -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics by (name, labels)."""
    status, text = await get("/metrics")
    assert status == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_show_the_running_job_then_its_pictures_and_the_bot_api_429s(tg: FakeTelegram, bot):
    user = FakeUser(tg, 1201)
    await start_request(user, "a harbour at dusk [hold=3]", until="Drawing")
    during = await scrape()
    assert during[("easel_jobs", (("state", "running"),))] == 1
    assert ("easel_device_memory_bytes", (("kind", "rss"),)) in during
    tg.fail_next("sendChatAction", 429, retry_after=1)  # the delivery announces the album: Telegram says slow down
    await results(user)
    after = await scrape_until(lambda samples: ("easel_pictures_total", (("mode", "generate"),)) in samples)
    assert after[("easel_jobs", (("state", "running"),))] == 0
    assert after[("easel_pictures_total", (("mode", "generate"),))] == 4
    assert after[("easel_job_seconds_count", (("family", "sd15"), ("mode", "generate")))] == 1
    assert after[("easel_job_seconds_sum", (("family", "sd15"), ("mode", "generate")))] >= 3
    assert after[("easel_bot_api_429_total", (("method", "SendChatAction"),))] == 1
    assert after[("easel_engine_jobs_total", (("outcome", "done"),))] >= 1


async def test_health_and_readiness_follow_redis(tg: FakeTelegram, bot, redis: RedisServer):
    assert await get("/healthz") == (200, '{"status": "alive"}')
    status, text = await get("/readyz")
    assert status == 200 and "ready" in text
    redis.kill()
    try:
        status, text = await get("/readyz")
        assert status == 503 and "storage" in text, text
        assert (await get("/healthz"))[0] == 200, "alive all the same"
    finally:
        redis.start()
    assert (await get("/readyz"))[0] == 200


async def test_refusals_are_counted_by_their_code(tg: FakeTelegram, bot):
    user = FakeUser(tg, 1202)
    for n in range(3):  # one running and two waiting: the user's cap
        await start_request(user, f"a lantern {n} [hold=2]")
    await user.send_text("a fourth lantern")
    await user.press(await user.next_message(lambda m: m.buttons != []), "No style")
    assert "already have pictures" in (await user.next_message(lambda m: m.buttons == [])).text
    refused = ("easel_errors_total", (("code", "user_queue_full"),))
    assert (await scrape_until(lambda samples: refused in samples))[refused] == 1
    for _ in range(3):
        await results(user)


async def scrape_until(ready, tries: int = 50) -> dict[tuple[str, tuple], float]:
    """The metrics once `ready` holds of them (the delivery counts a job just after its last message)."""
    for _ in range(tries):
        samples = await scrape()
        if ready(samples):
            return samples
        await asyncio.sleep(0.1)
    return samples
