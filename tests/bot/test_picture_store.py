"""Pictures behind the buttons with Redis: files on disk, once per picture, deleted when no record refers to them.

Every test runs a real redis-server and a folder of its own; two RedisStores on them are two bot processes.
"""

from __future__ import annotations

import asyncio
import io
import os
import time
from pathlib import Path

import pytest
import pytest_asyncio
from PIL import Image

from bot.config import Settings
from bot.pictures import MARGIN_S, TEMP_SUFFIX, digest_of
from bot.storage import RedisStore, open_store

HOUR = 3600
WEEK = 7 * 24 * HOUR


def png(color: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), color).save(out, format="PNG")
    return out.getvalue()


def files_in(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file())


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "pictures"


@pytest_asyncio.fixture(loop_scope="function")  # the tests' own loop: the clients live in it
async def stores(redis_server, folder):
    """A store for processes with the given TTL, all on one Redis and one folder; closed at the end."""
    opened: list[RedisStore] = []

    def store(ttl_s: int = WEEK) -> RedisStore:
        opened.append(RedisStore.from_url(redis_server.url, ttl_s, picture_dir=folder))
        return opened[-1]

    yield store
    for each in opened:
        await each.close()


async def test_a_picture_put_is_read_back_from_a_file_not_from_redis_memory(redis_server, folder):
    store = open_store(redis_server.url, WEEK, folder)
    try:
        picture = png((200, 30, 30))
        await store.put_blob("job1", "pic1", picture)
        assert await store.get_blob("job1", "pic1") == picture

        digest = digest_of(picture)
        assert files_in(folder) == [folder / digest[:2] / digest[2:4] / digest]
        assert (folder / digest[:2] / digest[2:4] / digest).read_bytes() == picture
        assert await store.redis.get("easel:blob:job1:pic1") == digest.encode(), "Redis keeps the digest only"
        assert 0 < await store.redis.ttl("easel:blob:job1:pic1") <= WEEK
        assert await store.redis.zscore("easel:pictures", digest) > time.time() + WEEK
    finally:
        await store.close()


async def test_pictures_are_private_to_the_bots_user(stores, folder):
    await stores().put_blob("job1", "pic1", png((1, 2, 3)))
    (picture,) = files_in(folder)
    assert picture.stat().st_mode & 0o777 == 0o600
    for each in (folder, picture.parent, picture.parent.parent):
        assert each.stat().st_mode & 0o777 == 0o700, each


async def test_the_same_bytes_stored_twice_are_one_file(stores, folder):
    bot, other_process = stores(), stores()
    result = png((10, 200, 10))
    await bot.put_blob("job1", "pic1", result)
    await bot.put_blob("job2", "src1", result)  # a variation of picture 1: its source is that picture
    await other_process.put_blob("job3", "src1", result)
    await bot.put_blob("job1", "pic2", png((10, 10, 200)))

    assert len(files_in(folder)) == 2
    for job, name in (("job1", "pic1"), ("job2", "src1"), ("job3", "src1")):
        assert await other_process.get_blob(job, name) == result

    kept = bot.pictures.folder.path(digest_of(result))
    os.utime(kept, (time.time() - WEEK, time.time() - WEEK))
    await bot.put_blob("job4", "src1", result)
    assert kept.stat().st_mtime > time.time() - 60, "its age counts from the latest reference (for the orphan walk)"


async def test_the_sweep_deletes_pictures_whose_records_expired_and_keeps_those_still_referenced(stores):
    short, long = stores(ttl_s=HOUR), stores(ttl_s=WEEK)
    forgotten, shared, kept_first = png((1, 1, 1)), png((2, 2, 2)), png((3, 3, 3))
    await short.put_blob("old", "pic1", forgotten)
    await short.put_blob("old", "pic2", shared)
    await long.put_blob("new", "src1", shared)  # referenced again, for longer: its expiry moves on
    await long.put_blob("new", "pic1", kept_first)
    await short.put_blob("other", "src1", kept_first)  # referenced again for less: the longer expiry stays

    assert await short.pictures.sweep() == 0, "nothing has expired yet"
    assert await long.get_blob("old", "pic1") == forgotten

    after_the_hour = time.time() + HOUR + MARGIN_S + 1
    assert await short.pictures.sweep(now=after_the_hour) == 1
    assert await short.get_blob("old", "pic1") is None, "its buttons now say 'too old'"
    assert await long.get_blob("new", "src1") == shared
    assert await long.get_blob("new", "pic1") == kept_first

    after_the_week = time.time() + WEEK + MARGIN_S + 1
    assert await long.pictures.sweep(now=after_the_week) == 2
    assert await long.get_blob("new", "src1") is None and await long.get_blob("new", "pic1") is None
    assert await long.redis.zcard("easel:pictures") == 0


async def test_a_sweep_never_deletes_a_picture_another_process_puts_meanwhile(stores, folder):
    """The race of two processes: one sweeps a picture whose records expired while the other keeps the same
    bytes for a new request (a photo sent again a week later). The new request must find its picture."""
    sweeper, other_process = stores(ttl_s=HOUR), stores(ttl_s=WEEK)
    photo = png((120, 80, 40))
    await sweeper.put_blob("last-week", "src1", photo)

    loop = asyncio.get_running_loop()
    seen: dict[str, bool] = {}
    delete = sweeper.pictures.folder.delete

    def delete_while_the_other_process_puts(digest: str) -> None:  # runs in the sweep's thread
        put = asyncio.run_coroutine_threadsafe(other_process.put_blob("today", "src1", photo), loop)
        time.sleep(0.5)  # ample time for the put to finish, unless it waits for this deletion
        seen["put done before the deletion"] = put.done()
        seen["future"] = put
        delete(digest)

    sweeper.pictures.folder.delete = delete_while_the_other_process_puts
    assert await sweeper.pictures.sweep(now=time.time() + HOUR + MARGIN_S + 1) == 1
    await asyncio.wrap_future(seen["future"])

    assert seen["put done before the deletion"] is False, "the put waits while a sweep deletes its file"
    assert await other_process.get_blob("today", "src1") == photo
    assert len(files_in(folder)) == 1
    assert await other_process.pictures.sweep(now=time.time() + HOUR + MARGIN_S + 1) == 0


async def test_a_missing_file_reads_as_none(stores, folder):
    store = stores()
    await store.put_blob("job1", "pic1", png((9, 9, 9)))
    for picture in files_in(folder):
        picture.unlink()  # an operator emptied the folder, or a volume was lost
    assert await store.get_blob("job1", "pic1") is None
    assert await store.get_blob("never", "pic1") is None


async def test_references_survive_a_redis_restart(redis_server, stores):
    store = stores()
    picture = png((50, 60, 70))
    await store.put_blob("job1", "pic1", picture)

    redis_server.restart()  # append-only: references and expiry times survive; the client reconnects
    assert await store.get_blob("job1", "pic1") == picture
    assert await store.pictures.sweep() == 0
    assert await store.get_blob("job1", "pic1") == picture, "its expiry time survived too"
    await store.put_blob("job2", "pic1", png((1, 60, 70)))  # the sweep's scripts after a restart: loaded again
    assert await store.pictures.sweep(now=time.time() + WEEK + MARGIN_S + 1) == 2


async def test_a_folder_left_without_references_is_cleaned_up(stores, folder):
    """Redis flushed (or restored from an older copy): files nobody can refer to any more go once they are
    older than the TTL; a file still referenced, however old, stays; so does a fresh one."""
    store = stores(ttl_s=HOUR)
    orphan, young, referenced = png((1, 0, 0)), png((0, 1, 0)), png((0, 0, 1))
    for n, picture in enumerate((orphan, young, referenced), start=1):
        await store.put_blob("job1", f"pic{n}", picture)
    await store.redis.delete("easel:pictures", "easel:blob:job1:pic1", "easel:blob:job1:pic2")
    await store.put_blob("job2", "pic1", referenced)
    long_ago = time.time() - HOUR - MARGIN_S - 60
    for picture in (orphan, referenced):
        os.utime(store.pictures.folder.path(digest_of(picture)), (long_ago, long_ago))
    dead_write = store.pictures.folder.path(digest_of(orphan)).parent / f".half{TEMP_SUFFIX}"
    dead_write.write_bytes(b"\x89PNG half a picture")
    os.utime(dead_write, (long_ago, long_ago))

    assert await store.pictures.collect_orphans() == 1
    assert not store.pictures.folder.path(digest_of(orphan)).exists()
    assert not dead_write.exists(), "a write that died with its process leaves nothing behind"
    assert store.pictures.folder.path(digest_of(young)).exists()
    assert await store.get_blob("job2", "pic1") == referenced


async def test_pictures_stored_in_redis_by_the_previous_version_still_read(stores):
    store = stores()
    await store.redis.set("easel:blob:job0:pic1", b"\x89PNG\r\n\x1a\n an older picture", ex=60)
    assert await store.get_blob("job0", "pic1") == b"\x89PNG\r\n\x1a\n an older picture"


async def test_the_sweep_runs_in_the_background_until_the_store_closes(stores):
    store = stores(ttl_s=HOUR)
    await store.put_blob("job1", "pic1", png((4, 4, 4)))
    path = store.pictures.folder.path(digest_of(png((4, 4, 4))))
    store.pictures.clock = lambda: time.time() + HOUR + MARGIN_S + 1  # the bot started again a day later

    store.start()
    for _ in range(200):  # 10 s at most
        if not path.exists():
            break
        await asyncio.sleep(0.05)
    assert not path.exists(), "the first sweep runs at start"
    task = store._sweeping
    await store.close()
    assert task is not None and task.cancelled()


def test_the_picture_folder_is_a_setting(monkeypatch, tmp_path):
    assert Settings(bot_token="1:x").picture_dir == Path("pictures")
    monkeypatch.setenv("PICTURE_DIR", str(tmp_path / "volume"))
    assert Settings(bot_token="1:x").picture_dir == tmp_path / "volume"
