"""Access lists changed at run time, flood control, the daily quota, device memory, redaction of crashes."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from bot.access import AccessPolicy
from bot.config import Settings
from bot.limits import DailyQuota, FloodControl, Metered, QuotaExceeded, Verdict, utc_day
from bot.storage import MemoryStore, RedisStore
from engine.api import ErrorCode, ImageRequest, QueueFull
from engine.health import device_memory

REPO = Path(__file__).resolve().parents[2]
CORPORATE = dict(bot_token="1:x", allowed_user_ids="1,2", allowed_chat_ids="-100", admin_user_ids="9")


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_burst_passes_then_one_warning_then_silence_until_tokens_come_back():
    clock = Clock()
    flood = FloodControl(rate_per_min=6, burst=3, clock=clock)  # a token every 10 s, full again in 30 s
    assert [flood.take(1) for _ in range(3)] == [Verdict.PASS] * 3
    assert [flood.take(1) for _ in range(3)] == [Verdict.WARN, Verdict.DROP, Verdict.DROP]
    assert flood.take(2) == Verdict.PASS, "buckets are per user"
    clock.now += 10
    assert [flood.take(1) for _ in range(2)] == [Verdict.PASS, Verdict.DROP], "one warning per burst"
    clock.now += 20
    assert [flood.take(1) for _ in range(3)] == [Verdict.PASS, Verdict.PASS, Verdict.WARN]
    clock.now += 3600
    assert [flood.take(1) for _ in range(4)] == [Verdict.PASS] * 3 + [Verdict.WARN], "refill stops at the burst"


def test_idle_buckets_are_forgotten_past_the_tracking_limit(monkeypatch):
    import bot.limits as limits

    monkeypatch.setattr(limits, "MAX_TRACKED_USERS", 3)
    clock = Clock()
    flood = FloodControl(rate_per_min=60, burst=2, clock=clock)
    for user in range(3):
        flood.take(user)
    clock.now += 60
    flood.take(99)
    assert len(flood._buckets) == 1


async def test_the_daily_quota_counts_per_user_and_day_and_admins_have_none():
    clock = Clock(1_700_000_000.0)
    quota = DailyQuota(MemoryStore(60), per_day=2, exempt=frozenset({9}), clock=clock)
    day = quota.today()
    assert day == utc_day(clock) and len(day) == 8
    assert await quota.take(1, day) and await quota.take(1, day)
    assert not await quota.take(1, day)
    assert await quota.left(1) == 0 and await quota.left(2) == 2
    await quota.give_back(1, day)
    assert await quota.left(1) == 1
    assert all([await quota.take(9, day) for _ in range(5)]) and await quota.left(9) is None
    clock.now += 24 * 3600
    assert await quota.left(1) == 2 and await quota.take(1, quota.today())
    assert await DailyQuota(MemoryStore(60), per_day=0).left(1) is None, "0 = no quota"


class FakeEngine:
    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.submitted: list[str] = []

    async def submit(self, user: str, request: ImageRequest) -> str:
        if self.refuse:
            raise QueueFull("full", ErrorCode.USER_QUEUE_FULL)
        self.submitted.append(user)
        return f"job{len(self.submitted)}"


async def test_metered_submissions_take_the_quota_and_refusals_give_it_back():
    store = MemoryStore(60)
    quota = DailyQuota(store, per_day=1)
    refusing = Metered(FakeEngine(refuse=True), quota)
    with pytest.raises(QueueFull):
        await refusing.submit("5", ImageRequest(prompt="x"))
    assert await quota.left(5) == 1, "a request the engine refused is not counted"
    engine = FakeEngine()
    metered = Metered(engine, quota)
    assert await metered.submit("5", ImageRequest(prompt="x")) == "job1"
    with pytest.raises(QuotaExceeded) as refused:
        await metered.submit("5", ImageRequest(prompt="x"))
    assert refused.value.code == "daily_quota" and engine.submitted == ["5"]


async def test_admins_change_the_lists_at_run_time_and_a_denial_wins():
    store = MemoryStore(60)
    access = AccessPolicy(Settings(**CORPORATE), store)
    await access.load()
    assert access.allowed(1, 1) and access.allowed(7, -100) and not access.allowed(7, 7)
    await access.allow(7)
    assert access.allowed(7, 7)
    await access.deny(1)
    assert not access.allowed(1, 1) and not access.allowed(1, -100), "a denied user is refused in groups too"
    await access.deny(-100)
    assert not access.allowed(7, -100) and access.allowed(7, 7), "a denied group is closed to everyone"
    assert not access.allowed(3, -100)
    await access.deny(9)  # the handler refuses this; the policy still lets an admin in
    assert access.allowed(9, 9) and access.is_admin(9) and not access.is_admin(1)
    again = AccessPolicy(Settings(**CORPORATE), store)
    await again.load()
    assert again.lists().added == {7} and again.lists().removed == {1, -100, 9}


async def test_access_changes_and_quota_counters_live_in_redis_across_a_restart(redis_server):
    store = RedisStore.from_url(redis_server.url, ttl_s=3600)
    try:
        await store.set_access(7, True)
        await store.set_access(-100, False)
        await store.set_access(8, False)
        await store.set_access(8, True)
        assert await store.count_request(5, "20250101") == 1
        assert await store.count_request(5, "20250101") == 2
        assert 0 < await store.redis.ttl("easel:quota:20250101:5") <= 2 * 24 * 3600
        redis_server.restart()
        assert await store.get_access() == ({7, 8}, {-100})
        assert await store.requests_on(5, "20250101") == 2 and await store.requests_on(5, "20250102") == 0
        await store.uncount_request(5, "20250101")
        assert await store.requests_on(5, "20250101") == 1
    finally:
        await store.close()


async def test_access_falls_back_to_the_configured_lists_while_storage_is_down(redis_server):
    store = RedisStore.from_url(redis_server.url, ttl_s=3600)
    try:
        await store.set_access(7, True)
        redis_server.kill()
        access = AccessPolicy(Settings(**CORPORATE), store)
        assert not await access.load()
        assert access.allowed(1, 1) and not access.allowed(7, 7)
        redis_server.start()
        access._next_try = 0
        await access.ensure_loaded()
        assert access.allowed(7, 7)
    finally:
        await store.close()


def test_device_memory_reports_the_gpu_in_use_or_else_the_process():
    memory = device_memory()
    if memory["device"] == "cpu":  # no CUDA here, or this test process never used it
        assert memory["rss_mb"] > 0 and memory["peak_mb"] > 0
    else:
        assert 0 < memory["used_mb"] <= memory["total_mb"] and memory["reserved_mb"] >= memory["allocated_mb"]


def test_crashes_and_warnings_outside_logging_calls_are_redacted_too():
    token = "123456789:AAFakeTokenForEaselTests_0123456789ab"
    code = (
        "import threading, warnings, logging; from bot.logs import setup_logging;"
        f"setup_logging('INFO', ({token!r},));"
        f"warnings.warn('see https://api/bot{token}/getMe');"
        f"t = threading.Thread(target=lambda: 1 / 0 if False else (_ for _ in ()).throw(OSError('{token}')));"
        "t.start(); t.join();"
        f"raise RuntimeError('http://api/bot{token}/getUpdates')"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 1
    assert token.split(":")[1] not in out.stderr + out.stdout
    assert out.stderr.count("<token>") == 3 and "uncaught exception" in out.stderr


def test_a_log_call_with_bad_arguments_does_not_raise():
    from bot.logs import RedactTokens

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d items", ("many",), None)
    assert RedactTokens(()).filter(record) and "many" in record.getMessage()


def test_stats_read_well_in_both_languages_with_a_gpu():
    from bot import reports
    from bot.access import AccessLists
    from locales import Translator

    stats = {"waiting": 3, "running": 1, "done": 42, "failed": 1, "cancelled": 2, "refused": 5}
    stats["per_user_done"] = {str(user): user % 7 + 1 for user in range(100, 112)}
    gpu = {"device": "cuda:0 NVIDIA H100", "allocated_mb": 9000, "reserved_mb": 12000, "used_mb": 13000,
           "total_mb": 81000, "peak_mb": 15000}  # fmt: skip
    lists = AccessLists(frozenset({9}), frozenset({1, 2, -100}), frozenset({7}), frozenset({2}))
    limits = {"rate": 30, "burst": 20, "quota": 0}
    english = reports.stats_text(Translator("en")["en"], stats, gpu, 2, 3 * 3600 + 120, limits, lists)
    assert "up 3 h 2 min" in english and "3 waiting, 1 running, 2 being delivered" in english
    assert "42 done, 1 failed, 2 cancelled, 5 refused" in english and "and 2 more" in english
    assert "13000 of 81000 MB used" in english and "no daily quota" in english
    assert "3 ids configured; at run time 1 allowed, 1 denied" in english
    russian = reports.stats_text(Translator("en")["ru"], stats, {"rss_mb": 900, "peak_mb": 1200}, 0, 60, limits, lists)
    assert "Статистика" in russian and "900 МБ" in russian
    listing = reports.access_lists_text(Translator("en")["en"], lists)
    assert "Configured: -100, 1, 2" in listing and "Denied at run time: 2" in listing
