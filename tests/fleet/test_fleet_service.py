"""The fleet through the ImageService a bot uses (FleetService), against real workers and a real Redis: nothing lost,
nothing doubled, fair across users, jobs only where they can run, cancel and caps across bot processes, a worker
killed mid-job, a Redis restart, and a fleet with no live worker.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import redis as redis_sync
from fleetproc import VISIBILITY_S, fleet_events
from redisproc import RedisServer

from engine.api import EngineError, ErrorCode, ImageRequest, JobCancelled, JobState, JobStatus, Mode, QueueFull
from engine.fleet.client import FleetService
from engine.settings import EngineSettings

pytestmark = pytest.mark.asyncio(loop_scope="module")


def settings(cache: Path, **changes) -> EngineSettings:
    return EngineSettings(model="tiny", cache_dir=cache, fleet_visibility_s=VISIBILITY_S, **changes)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def service(fleet, fleet_redis: RedisServer, engine_cache: Path) -> AsyncIterator[FleetService]:
    """A bot's door to the fleet, with room for 5 requests per user and 300 in line."""
    fleet.ensure()
    svc = FleetService(fleet_redis.url, settings(engine_cache, max_waiting_per_user=4, max_queue=300))
    await svc.start()
    yield svc
    await svc.close(0)
    await svc.redis.aclose()


async def ended(svc: FleetService, job_id: str, timeout: float = 60) -> JobStatus:  # noqa: ASYNC109
    async def last() -> JobStatus:
        final = None
        async for status in svc.events(job_id):
            final = status
        assert final is not None
        return final

    return await asyncio.wait_for(last(), timeout)


async def until(svc: FleetService, job_id: str, check, timeout: float = 30) -> JobStatus:  # noqa: ASYNC109
    async def wait() -> JobStatus:
        async for status in svc.events(job_id):
            if check(status):
                return status
        raise AssertionError(f"job {job_id} ended first: {svc.status(job_id)}")

    return await asyncio.wait_for(wait(), timeout)


events = fleet_events


def job_field(redis_url: str, job_id: str, name: str) -> str:
    client = redis_sync.Redis.from_url(redis_url)
    try:
        return (client.hget(f"easel:fleet:job:{job_id}", name) or b"").decode()
    finally:
        client.close()


def draw(prompt: str, **fields) -> ImageRequest:
    return ImageRequest(prompt=prompt, count=fields.pop("count", 1), **fields)


async def test_fifty_users_with_five_requests_each_on_three_workers_get_every_picture_once(service, fleet, fleet_redis):
    requests = {(user, n): draw(f"a lighthouse {user}-{n}", profile="fast") for user in range(50) for n in range(5)}
    ids = {
        await service.submit(f"u{user}", request): (user, n)
        for (user, n), request in requests.items()  # every user's five at once: the line is 250 long
    }
    finals = await asyncio.gather(*(ended(service, job_id, timeout=240) for job_id in ids))
    assert Counter(status.state for status in finals) == {JobState.DONE: 250}, "none lost"
    results = await asyncio.gather(*(service.result(job_id) for job_id in ids))
    for result, (user, n) in zip(results, ids.values(), strict=True):
        assert result.prompt == f"a lighthouse {user}-{n}" and len(result.pictures) == 1
    ends = Counter(e["job"] for e in events(fleet_redis.url) if e["kind"] == "end" and e["job"] in ids)
    assert set(ends.values()) == {1}, "each job ended exactly once: none doubled"
    runners = Counter(e["worker"] for e in events(fleet_redis.url) if e["kind"] == "running" and e["job"] in ids)
    assert set(runners) == {"w1", "w2", "w3"}, f"all three workers served: {runners}"
    largest = max(fleet.advertised(name)["batching"]["largest"] for name in ("w1", "w2", "w3"))
    assert largest > 1, "a worker batched several users' jobs into one call"


async def test_a_4k_job_never_goes_to_the_worker_without_an_upscaler(service, fleet, fleet_redis):
    assert "upscale" not in fleet.advertised("w3")["modes"]
    assert "upscale" in fleet.advertised("w1")["modes"] and Mode.UPSCALE in service.available_modes()
    source = (await service.result(await service.submit("painter", draw("a mountain lake")))).pictures[0].png
    ids = [await service.submit(f"up{n}", ImageRequest(mode=Mode.UPSCALE, images=(source,), count=1)) for n in range(3)]
    finals = await asyncio.gather(*(ended(service, job_id, timeout=120) for job_id in ids))
    assert {status.state for status in finals} == {JobState.DONE}
    assert max((await service.result(ids[0])).pictures[0].width, 0) == 512
    runners = {e["worker"] for e in events(fleet_redis.url) if e["kind"] == "running" and e["job"] in ids}
    assert runners and "w3" not in runners


async def test_caps_hold_across_two_bot_processes_submitting_at_once(fleet_redis, engine_cache):
    """Two bots (two clients of their own) race ten requests of one user: exactly 1 + 2 get in, the rest are told."""
    bots = [FleetService(fleet_redis.url, settings(engine_cache)) for _ in range(2)]
    for bot in bots:
        await bot.start()
    try:
        attempts = [bots[n % 2].submit("racer", draw("a race [hold=2]")) for n in range(10)]
        outcomes = await asyncio.gather(*attempts, return_exceptions=True)
        accepted = [o for o in outcomes if isinstance(o, str)]
        refused = [o for o in outcomes if isinstance(o, QueueFull)]
        assert len(accepted) == 3 and len(refused) == 7
        assert {error.code for error in refused} == {ErrorCode.USER_QUEUE_FULL}
        for job_id in accepted:
            owner = next(bot for bot in bots if bot.status(job_id) is not None)
            owner.cancel(job_id)
        for job_id in accepted:
            owner = next(bot for bot in bots if bot.status(job_id) is not None)
            assert (await ended(owner, job_id)).state == JobState.CANCELLED
    finally:
        for bot in bots:
            await bot.close(0)
            await bot.redis.aclose()


async def test_cancel_removes_a_waiting_job_and_stops_a_running_one(service, fleet_redis):
    running = await service.submit("canceller", draw("a long night [hold=30]"))
    await until(service, running, lambda s: s.state == JobState.RUNNING)
    waiting = await service.submit("canceller", draw("a second night"))
    assert service.status(waiting).state == JobState.WAITING
    assert service.cancel(waiting)
    assert (await ended(service, waiting)).state == JobState.CANCELLED
    client = redis_sync.Redis.from_url(fleet_redis.url)
    assert waiting.encode() not in client.lrange("easel:fleet:line:canceller", 0, -1)
    client.close()
    started = time.monotonic()
    assert service.cancel(running)
    assert (await ended(service, running)).state == JobState.CANCELLED
    assert time.monotonic() - started < 5, "stopped between steps, not after its 30 s"
    with pytest.raises(JobCancelled):
        await service.result(running)


async def test_waiting_jobs_survive_a_redis_restart(service, fleet, fleet_redis):
    ids = [await service.submit(f"patient{n}", draw(f"a patient cat {n} [hold=0.5]")) for n in range(8)]
    await asyncio.sleep(0.3)
    fleet_redis.restart()  # SIGKILL; the append-only file (fsync always) brings the line back
    finals = await asyncio.gather(*(ended(service, job_id, timeout=120) for job_id in ids))
    assert {status.state for status in finals} == {JobState.DONE}
    ends = Counter(e["job"] for e in events(fleet_redis.url) if e["kind"] == "end" and e["job"] in ids)
    assert set(ends.values()) == {1}


async def test_with_no_live_worker_a_request_hears_the_machines_are_offline(tmp_path, engine_cache):
    """A Redis no worker serves: refused at once with OFFLINE; a job whose last worker vanished fails with it."""
    server = RedisServer(tmp_path / "redis").start()
    svc = FleetService(server.url, settings(engine_cache, fleet_offline_s=1))
    try:
        await svc.start()
        with pytest.raises(EngineError) as refusal:
            await svc.submit("alone", draw("anyone there?"))
        assert refusal.value.code == ErrorCode.OFFLINE
        # A worker that advertises itself, then vanishes before taking anything (its advertisement expires).
        ghost = {"name": "ghost", "modes": ["generate"], "tags": ["mode:generate"], "llm": False, "styles": []}
        await svc.redis.set("easel:fleet:worker:ghost", json.dumps(ghost), ex=2)
        await svc.redis.sadd("easel:fleet:workers", "ghost")
        await svc._refresh()
        job_id = await svc.submit("alone", draw("anyone there?"))
        final = await ended(svc, job_id, timeout=20)
        assert (final.state, final.error) == (JobState.FAILED, ErrorCode.OFFLINE)
    finally:
        await svc.close(0)
        await svc.redis.aclose()
        server.stop()


async def test_a_heavy_user_delays_a_light_one_by_at_most_one_job_per_worker(service, fleet_redis, sample_bytes):
    """Mixes, which only the two workers with an IP-Adapter can run: five of one user, then one of another. The light
    one is among the first to start, and the heavy user never runs two at once (ENGINE_MAX_RUNNING_PER_USER=1 across
    the fleet)."""
    photos = (sample_bytes("chelsea.png"), sample_bytes("coffee.png"))

    def mix(prompt: str) -> ImageRequest:
        return ImageRequest(mode=Mode.MIX, prompt=prompt, images=photos, count=1)

    heavy = [await service.submit("heavy", mix(f"heavy {n}")) for n in range(5)]
    light = await service.submit("light", mix("light"))
    finals = await asyncio.gather(*(ended(service, job_id, timeout=120) for job_id in [*heavy, light]))
    assert {status.state for status in finals} == {JobState.DONE}
    log = [e for e in events(fleet_redis.url) if e["job"] in [*heavy, light]]
    assert {e["worker"] for e in log if e["kind"] == "running"} == {"w1", "w2"}, "w3 has no IP-Adapter"
    starts = [e["job"] for e in log if e["kind"] == "running"]
    assert starts.index(light) <= 2, f"light started {starts.index(light) + 1}th"
    running = 0
    for entry in log:  # the heavy user's jobs, in event order: never two running at once
        if entry["job"] in heavy and entry["kind"] in ("running", "end"):
            running += 1 if entry["kind"] == "running" else -1
            assert running <= 1


async def test_a_worker_killed_mid_job_has_its_job_run_again_elsewhere_once(service, fleet, fleet_redis):
    job_id = await service.submit("unlucky", draw("a fragile vase [hold=2]", count=2))
    await until(service, job_id, lambda s: s.state == JobState.RUNNING)
    victim = job_field(fleet_redis.url, job_id, "worker")
    killed = time.monotonic()
    fleet.kill(victim)  # the last test of the module: the fleet fixture starts it again when needed
    await until(service, job_id, lambda s: s.state == JobState.WAITING, timeout=VISIBILITY_S + 10)
    reclaimed_s = time.monotonic() - killed
    final = await ended(service, job_id, timeout=60)
    assert final.state == JobState.DONE
    assert reclaimed_s <= VISIBILITY_S + 2, f"reclaimed after {reclaimed_s:.1f} s"
    print(f"reclaimed {reclaimed_s:.2f} s after kill -9 (visibility timeout {VISIBILITY_S} s)")
    log = [e for e in events(fleet_redis.url) if e["job"] == job_id]
    kinds = [e["kind"] for e in log if e["kind"] in ("running", "requeued", "end")]
    assert kinds == ["running", "requeued", "running", "end"], "run again once, ended once"
    assert [e["worker"] for e in log if e["kind"] == "running"][1] != victim
    assert len((await service.result(job_id)).pictures) == 2


async def test_describe_is_not_offered_over_the_fleet(engine_cache):
    """The workers take picture jobs only: a bot on the fleet hides 💬 Describe (engine/fleet/client.py)."""
    from engine.api import ModeUnavailable

    svc = FleetService("redis://127.0.0.1:1", settings(engine_cache))  # never connects: nothing is sent
    assert not svc.can_describe()
    with pytest.raises(ModeUnavailable):
        await svc.describe(b"")
    await svc.redis.aclose()
