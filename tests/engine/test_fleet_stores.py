"""The fleet's picture stores (ENGINE_FLEET_STORE), each against the real thing: a redis-server, a folder, an
S3-compatible server (moto's, on 127.0.0.1). A 4K picture's file goes in and comes out whole; a reader never sees
half a file; expired files are swept and nothing else is; names that could leave the store are refused."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from redis.asyncio import Redis
from s3proc import CREDENTIALS

from engine.fleet.stores import FolderStore, PictureStore, S3Store, StoreError, checked, file_name, open_store
from engine.settings import EngineSettings

KINDS = ("redis", "dir", "s3")
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)


@pytest_asyncio.fixture(params=KINDS, loop_scope="module")
async def store(request, tmp_path: Path) -> AsyncIterator[PictureStore]:
    """Each kind of store, as open_store makes it from the settings, with a TTL of 600 s."""
    kind, redis, endpoint = request.param, None, ""
    if kind == "redis":
        redis = Redis.from_url(request.getfixturevalue("redis_server").url)
        spec = "redis"
    elif kind == "dir":
        spec = f"dir:{tmp_path / 'pictures'}"
    else:
        request.getfixturevalue("s3_env")
        s3_server = request.getfixturevalue("s3_server")
        spec, endpoint = f"s3://{s3_server.bucket(f'easel-{time.monotonic_ns()}')}/fleet", s3_server.endpoint
    made = open_store(EngineSettings(fleet_store=spec, fleet_s3_endpoint=endpoint), redis)
    await made.ready()
    yield made
    if redis is not None:
        await redis.aclose()


async def test_a_4k_file_goes_in_and_comes_out_whole_and_can_be_removed(store: PictureStore):
    big = os.urandom(32 * 1024 * 1024)  # a 4K PNG of a photo is tens of MB
    name = file_name("abc123def456", "1", "png0")
    started = time.perf_counter()
    await store.put(name, big)
    back = await store.get(name)
    print(f"{store.kind}: 32 MB put + get in {(time.perf_counter() - started) * 1000:.0f} ms")
    assert back == big
    assert await store.get(file_name("abc123def456", "2", "png0")) is None, "another attempt's file is not there"
    await store.delete([name])
    assert await store.get(name) is None


async def test_names_that_could_leave_the_store_are_refused(store: PictureStore):
    for wrong in ("../etc/passwd", "easel-ab-1-png0/../x", "/abs", "easel-AB-1-png0", "notes.txt", ""):
        with pytest.raises(ValueError):
            await store.put(wrong, b"x")
    with pytest.raises(ValueError):
        file_name("../..", "1", "png0")
    assert checked(file_name("0af", "12", "preview3")) == "easel-0af-12-preview3"


async def test_a_reader_of_a_shared_folder_never_sees_half_a_file(tmp_path: Path):
    store = FolderStore(tmp_path, ttl_s=600)
    await store.ready()
    name = file_name("feed", "1", "png0")
    sizes: set[int] = set()
    done = threading.Event()

    def read() -> None:  # another machine's bot, reading while the worker writes
        while not done.is_set():
            data = store._read(tmp_path / name)
            sizes.add(len(data) if data is not None else 0)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for size in (8, 16, 24, 32):
            await store.put(name, bytes(size * 1024 * 1024))
    finally:
        done.set()
        reader.join()
    assert sizes <= {0, *(size * 1024 * 1024 for size in (8, 16, 24, 32))}, f"torn reads: {sorted(sizes)}"
    assert os.listdir(tmp_path) == [name], "no temporary file left behind"


async def test_expired_files_in_a_folder_are_swept_and_nothing_else(tmp_path: Path):
    store = FolderStore(tmp_path, ttl_s=600)
    await store.ready()
    old, fresh = file_name("0001", "1", "png0"), file_name("0002", "1", "png0")
    for name in (old, fresh):
        await store.put(name, b"png")
    (tmp_path / ".part-0123456789abcdef0123456789abcdef-easel-0003-1-png0").write_bytes(b"half")  # a dead writer's
    (tmp_path / "notes.txt").write_text("someone else's")
    an_hour_ago = time.time() - 3600
    for entry in os.listdir(tmp_path):
        if entry != fresh:
            os.utime(tmp_path / entry, (an_hour_ago, an_hour_ago))
    assert await store.sweep() == 2
    assert sorted(os.listdir(tmp_path)) == sorted([fresh, "notes.txt"])


async def test_expired_files_in_a_bucket_are_swept_and_nothing_else(s3_server, s3_env):
    bucket = s3_server.bucket("easel-sweep")
    store = S3Store(bucket, "fleet", ttl_s=1, endpoint=s3_server.endpoint)
    old, fresh = file_name("0001", "1", "png0"), file_name("0002", "1", "png0")
    await store.put(old, b"png")
    client = s3_server.client()
    client.put_object(Bucket=bucket, Key="fleet/notes.txt", Body=b"someone else's")
    client.put_object(Bucket=bucket, Key=old, Body=b"outside the prefix")
    await asyncio.sleep(1.2)  # S3 dates objects to the second
    await store.put(fresh, b"png")
    assert await store.sweep() == 1
    keys = sorted(item["Key"] for item in client.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == sorted([f"fleet/{fresh}", "fleet/notes.txt", old])


async def test_files_in_redis_expire_by_themselves(redis_server):
    redis = Redis.from_url(redis_server.url)
    try:
        store = open_store(EngineSettings(fleet_store="redis", fleet_result_ttl_s=45), redis)
        await store.put(file_name("0001", "1", "png0"), b"png")
        assert 40 <= await redis.ttl("easel:fleet:file:easel-0001-1-png0") <= 45
        assert await store.sweep() == 0
    finally:
        await redis.aclose()


async def test_a_store_that_cannot_be_used_is_told_at_start(s3_server, s3_env, tmp_path: Path):
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(StoreError, match="dir:"):
        await FolderStore(tmp_path / "a-file" / "pictures", ttl_s=600).ready()
    with pytest.raises(StoreError, match="s3://easel-missing"):
        await S3Store("easel-missing", "", ttl_s=600, endpoint=s3_server.endpoint).ready()
