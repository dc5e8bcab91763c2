"""The fleet with its pictures in a shared folder or an S3-compatible bucket instead of Redis (ENGINE_FLEET_STORE):
the real bot and a worker, both set to the store, on a Redis of their own. An album and a 4K file reach the user
through the store, and not through Redis; the worker sweeps expired pictures, and only those.

One bot and one worker per store (a fleet serves one store); the session's fleet (w1-w3) is not touched. The bucket
gets a real 4K (4096 px, ~16 MB: 15-30 s of the tiny kit's CPU time); the folder a "4K" of 1024 px, as its path
does not depend on a file's size (tests/engine/test_fleet_stores.py moves 32 MB through it, and through each store).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
import redis as redis_sync
from e2e.helpers import PLAIN_BOT, bot_running, decoded, draw, fast_env
from fakegram import BotProcess, FakeTelegram, FakeUser
from fleetproc import Fleet
from redisproc import RedisServer
from s3proc import CREDENTIALS, S3Server

from engine.fleet.client import REFRESH_S

pytestmark = pytest.mark.asyncio(loop_scope="module")
USERS = {"dir": 1801, "s3": 1802}
EXPIRED = "easel-01d01d01d01d-1-png0"  # a picture of a job long gone, in the store before the worker starts


@dataclass
class Store:
    kind: str
    env: dict[str, str]  # ENGINE_FLEET_STORE and what it needs, for the bot and the worker alike
    names: Callable[[], list[str]]  # the files in it now
    read: Callable[[str], bytes]
    long_side: int  # of its "4K" (ENGINE_UPSCALE_LONG_SIDE)


def folder_store(folder: Path) -> Store:
    an_hour_ago = time.time() - 3600
    for name in (EXPIRED, "notes.txt"):
        (folder / name).write_bytes(b"old")
        os.utime(folder / name, (an_hour_ago, an_hour_ago))
    env = {"ENGINE_FLEET_STORE": f"dir:{folder}"}
    return Store("dir", env, lambda: os.listdir(folder), lambda name: (folder / name).read_bytes(), 1024)


def bucket_store(s3: S3Server) -> Store:
    bucket, client = s3.bucket("easel-fleet-e2e"), s3.client()

    def names() -> list[str]:
        listed = client.list_objects_v2(Bucket=bucket, Prefix="pictures/")
        return [item["Key"].removeprefix("pictures/") for item in listed.get("Contents", [])]

    def read(name: str) -> bytes:
        return client.get_object(Bucket=bucket, Key=f"pictures/{name}")["Body"].read()

    env = {"ENGINE_FLEET_STORE": f"s3://{bucket}/pictures", "ENGINE_FLEET_S3_ENDPOINT": s3.endpoint, **CREDENTIALS}
    return Store("s3", env, names, read, 4096)


@pytest.fixture(scope="module", params=sorted(USERS))
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server) -> Store:
    if request.param == "dir":
        return folder_store(tmp_path_factory.mktemp("pictures"))
    return bucket_store(s3_server)


@pytest.fixture(scope="module")
def store_redis(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp(f"redis-{store.kind}")).start()
    yield server
    server.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def store_bot(
    store: Store, store_redis: RedisServer, tg: FakeTelegram, engine_cache: Path, tmp_path_factory
) -> AsyncIterator[BotProcess]:
    """A worker with every model of the tiny kit, and the bot, started side by side."""
    workers = Fleet(store_redis.url, engine_cache, tmp_path_factory.mktemp(f"workers-{store.kind}"))
    workers.start(f"s-{store.kind}", **store.env, ENGINE_UPSCALE_LONG_SIDE=str(store.long_side))
    env = fast_env(
        engine_cache,
        ENGINE_BACKEND="redis",
        REDIS_URL=store_redis.url,
        ALLOWED_USER_IDS=",".join(map(str, USERS.values())),
        **store.env,
    )
    try:
        async for proc in bot_running(tg, tmp_path_factory, env, PLAIN_BOT):
            await asyncio.to_thread(workers.wait_live, f"s-{store.kind}")
            await asyncio.sleep(REFRESH_S + 0.5)  # the bot reads the live workers every REFRESH_S
            yield proc
    finally:
        workers.stop_all()
        print(f"---- worker s-{store.kind} ----\n{workers.log(f's-{store.kind}')[-6000:]}")


async def test_an_album_and_a_4k_file_reach_the_user_through_the_store(tg: FakeTelegram, store: Store, store_bot,
                                                                        store_redis: RedisServer):  # fmt: skip
    user = FakeUser(tg, USERS[store.kind])
    album, buttons = await draw(user, "a harbour at noon")
    assert len(album.photos) == 4
    pictures = [name for name in store.names() if name.startswith("easel-") and name != EXPIRED]
    assert len(pictures) == 8, f"four PNGs and their previews in the store: {pictures}"

    started = time.monotonic()
    await user.press(buttons, "4K 2")
    preview = await user.next_photo(timeout=240)
    document = await user.next_document(timeout=60)
    print(f"{store.kind}: 4K ({len(document.document) / 1e6:.1f} MB) in {time.monotonic() - started:.1f} s")
    assert "4K" in preview.text and max(decoded(document.document).size) == store.long_side
    assert any(store.read(name) == document.document for name in store.names() if name.endswith("-png0")), (
        "the 4K file the user got came through the store"
    )
    client = redis_sync.Redis.from_url(store_redis.url)
    try:
        assert list(client.scan_iter("easel:fleet:file:*")) == [], "no picture went through Redis"
        for record in client.scan_iter("easel:fleet:result:*"):
            assert set(client.hkeys(record)) == {b"meta", b"store", b"attempt"}
            assert client.hget(record, "store") == store.kind.encode()
            assert client.memory_usage(record) < 10_000
    finally:
        client.close()


async def test_the_worker_sweeps_expired_pictures_and_nothing_else(store: Store, store_bot):
    if store.kind != "dir":
        pytest.skip("S3 dates objects itself: a bucket's sweep is in tests/engine/test_fleet_stores.py")
    names = store.names()
    assert EXPIRED not in names, "the picture of a job long gone was swept"
    assert "notes.txt" in names, "a file that is not a picture of the fleet stays, however old"
