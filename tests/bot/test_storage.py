"""Job records and preferences: JSON and raw bytes, in memory or Redis (pictures: tests/bot/test_picture_store.py),
expiring after the TTL."""

from __future__ import annotations

import pytest

from bot.records import JobRecord, PictureRecord, Prefs, new_job_id
from bot.storage import MemoryStore, RedisStore


def record(**changes) -> JobRecord:
    fields = dict(id=new_job_id(), owner=42, chat_id=-100123, prompt="кот <b> & 🐱", weights=[0.3, 0.7])
    return JobRecord(**{**fields, **changes})


def test_a_record_survives_json_and_ignores_unknown_fields():
    original = record(pictures=[PictureRecord(1, 128, 128), PictureRecord(2, 128, 96, "jpeg")], state="done")
    copy = JobRecord.from_json(original.to_json())
    assert copy == original
    assert JobRecord.from_json(original.to_json()[:-1] + ', "from_a_newer_version": 1}') == original
    assert len(new_job_id()) == 8


async def test_memory_store_keeps_records_blobs_and_prefs():
    store = MemoryStore(ttl_s=60)
    job = record()
    await store.save_job(job)
    await store.put_blob(job.id, "pic1", b"\x89PNG...")
    assert await store.get_job(job.id) == job
    assert await store.get_blob(job.id, "pic1") == b"\x89PNG..."
    assert await store.get_job("missing") is None and await store.get_blob(job.id, "pic2") is None
    assert await store.get_prefs(7) == Prefs()
    await store.save_prefs(7, Prefs(locale="ru", count=2))
    assert (await store.get_prefs(7)).locale == "ru"


async def test_memory_store_forgets_after_the_ttl(monkeypatch):
    import bot.storage as storage

    now = [1000.0]
    monkeypatch.setattr(storage.time, "monotonic", lambda: now[0])
    store = MemoryStore(ttl_s=60)
    job = record()
    await store.save_job(job)
    await store.put_blob(job.id, "pic1", b"x")
    now[0] += 61
    assert await store.get_job(job.id) is None and await store.get_blob(job.id, "pic1") is None


async def test_memory_store_drops_the_oldest_pictures_over_its_budget():
    store = MemoryStore(ttl_s=60, blob_budget=10)
    await store.put_blob("old", "pic1", b"123456")
    await store.put_blob("new", "pic1", b"abcdef")
    assert await store.get_blob("old", "pic1") is None
    assert await store.get_blob("new", "pic1") == b"abcdef"


async def test_redis_store_round_trip_ttl_and_a_redis_restart(redis_server, tmp_path):
    store = RedisStore.from_url(redis_server.url, ttl_s=3600, picture_dir=tmp_path / "pictures")
    try:
        job = record()
        await store.save_job(job)
        await store.put_blob(job.id, "src1", bytes(range(256)))
        await store.save_prefs(42, Prefs(style="anime", beautify=True))
        assert await store.get_job(job.id) == job
        assert await store.get_blob(job.id, "src1") == bytes(range(256))
        assert 0 < await store.redis.ttl(f"easel:job:{job.id}") <= 3600
        assert 0 < await store.redis.ttl(f"easel:blob:{job.id}:src1") <= 3600
        assert await store.redis.ttl("easel:prefs:42") == -1, "preferences do not expire"

        redis_server.restart()  # append-only: the data survives; the client reconnects by itself
        assert await store.get_job(job.id) == job
        assert await store.get_blob(job.id, "src1") == bytes(range(256))
        assert (await store.get_prefs(42)).style == "anime"
    finally:
        await store.close()


@pytest.mark.parametrize("raw", [b'{"locale": "en", "count": 3, "removed_option": true}', None])
def test_prefs_from_json_tolerate_old_and_missing_data(raw):
    from bot.records import prefs_from_json as _prefs_from

    prefs = _prefs_from(raw)
    assert prefs.count in (3, 4)
