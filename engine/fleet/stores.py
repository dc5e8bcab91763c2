"""Where a finished job's pictures wait for the bot (ENGINE_FLEET_STORE): a place both a worker and the bot reach,
so that the pictures do not travel through the fleet's streams (a 4K PNG is tens of MB).

    redis                 the fleet's Redis, each file a value with a TTL (the default: nothing more to set up)
    dir:/mnt/easel        a folder every worker and bot mounts (NFS, SMB, a shared volume)
    s3://bucket/prefix    an S3-compatible store: AWS S3, MinIO, Ceph, R2... (ENGINE_FLEET_S3_ENDPOINT for a
                          non-AWS one; credentials and region from the usual AWS_* variables)

A file is written once, under a name made of the job id, the attempt and the part (`file_name`), read by the bot,
and removed after ENGINE_FLEET_RESULT_TTL_S: Redis expires its keys itself; in a folder or a bucket a worker sweeps
what is older (one worker of the fleet at a time, at most every SWEEP_S). A sweep touches only names of that form,
so a folder or bucket shared with other files loses none of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

from ..settings import EngineSettings
from .wire import key

# The only names a store takes: no separators, no dots, nothing a path could be made of; and nothing else is swept.
FILE_NAME = re.compile(r"^easel-[0-9a-f]{1,64}-[0-9]{1,6}-(png|preview)[0-9]{1,2}$")
TEMP_NAME = re.compile(r"^\.part-[0-9a-f]{32}-easel-")  # a file being written into a folder (a stale one is swept)
T = TypeVar("T")
SWEEP_S = 60.0  # a folder or bucket is swept of expired files at most this often, by one worker of the fleet


class StoreError(Exception):
    """The store cannot be used as configured (a bucket that does not exist, a folder that cannot be written)."""


class PictureStore(Protocol):
    """Files by name, each kept for the store's TTL. `get` of a missing or expired name is None."""

    kind: str  # "redis", "dir", "s3": what a result's record names, so that a bot set up otherwise can say so

    async def ready(self) -> None:
        """At start: the store can be used (a clear StoreError now, rather than at the first finished job)."""
        ...

    async def put(self, name: str, data: bytes) -> None: ...

    async def get(self, name: str) -> bytes | None: ...

    async def delete(self, names: Sequence[str]) -> None: ...

    async def sweep(self) -> int:
        """Remove what is older than the TTL; how many files."""
        ...


def file_name(job: str, attempt: str, part: str) -> str:
    """The name of one file of a job's result (`part`: png0, preview0, png1...)."""
    return checked(f"easel-{job}-{attempt}-{part}")


def checked(name: str) -> str:
    if not FILE_NAME.match(name):
        raise ValueError(f"not a file name of the picture store: {name!r}")
    return name


class RedisStore:
    """Each file a Redis value with the TTL: Redis expires them, no sweep needed."""

    kind = "redis"

    def __init__(self, redis: Any, ttl_s: int) -> None:
        self.redis, self.ttl_s = redis, ttl_s

    async def ready(self) -> None:
        pass  # the fleet's Redis: its own checks say when it does not answer

    async def put(self, name: str, data: bytes) -> None:
        await self.redis.set(key("file", checked(name)), data, ex=self.ttl_s)

    async def get(self, name: str) -> bytes | None:
        return await self.redis.get(key("file", checked(name)))

    async def delete(self, names: Sequence[str]) -> None:
        if names:
            await self.redis.delete(*(key("file", checked(name)) for name in names))

    async def sweep(self) -> int:
        return 0


class FolderStore:
    """A shared folder: each file written beside its final name and renamed into place (a reader never sees half a
    file, also over NFS, where a rename within a folder is atomic); files older than the TTL are swept."""

    kind = "dir"

    def __init__(self, root: Path, ttl_s: int) -> None:
        self.root, self.ttl_s = root, ttl_s

    async def _run(self, call: Callable[..., T], *args: Any) -> T:
        """`call` in a thread (a network file system may stall), its OSError as a StoreError."""
        try:
            return await asyncio.to_thread(call, *args)
        except OSError as error:
            raise StoreError(f"ENGINE_FLEET_STORE=dir:{self.root}: {error}") from None

    async def ready(self) -> None:
        await self._run(lambda: self.root.mkdir(parents=True, exist_ok=True))
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StoreError(f"ENGINE_FLEET_STORE=dir:{self.root}: this process cannot write into the folder")

    async def put(self, name: str, data: bytes) -> None:
        await self._run(self._write, self.root / checked(name), data)

    def _write(self, path: Path, data: bytes) -> None:
        temp = path.with_name(f".part-{uuid.uuid4().hex}-{path.name}")
        try:
            temp.write_bytes(data)
            os.replace(temp, path)
        finally:
            temp.unlink(missing_ok=True)

    async def get(self, name: str) -> bytes | None:
        return await self._run(self._read, self.root / checked(name))

    def _read(self, path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    async def delete(self, names: Sequence[str]) -> None:
        await self._run(self._delete, [self.root / checked(name) for name in names])

    def _delete(self, paths: list[Path]) -> None:
        for path in paths:
            path.unlink(missing_ok=True)

    async def sweep(self) -> int:
        return await self._run(self._sweep, time.time() - self.ttl_s)

    def _sweep(self, before: float) -> int:
        removed = 0
        with os.scandir(self.root) as entries:
            for entry in entries:
                with contextlib.suppress(FileNotFoundError):  # another worker swept it a moment ago
                    ours = FILE_NAME.match(entry.name) or TEMP_NAME.match(entry.name)
                    if ours and entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < before:
                        os.unlink(entry.path)
                        removed += 1
        return removed


class S3Store:
    """An S3-compatible bucket, through boto3 (its client is thread-safe; each call runs in a thread, so neither
    the bot's nor the worker's event loop waits on the network). Files older than the TTL are swept by listing the
    prefix: a bucket's lifecycle rules count in whole days, too coarse for minutes."""

    kind = "s3"

    def __init__(self, bucket: str, prefix: str, ttl_s: int, endpoint: str = "") -> None:
        import boto3  # only a fleet on S3 pays for importing it
        from botocore.config import Config

        self.bucket, self.prefix, self.ttl_s = bucket, prefix.strip("/"), ttl_s
        config = Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=60)
        self.s3 = boto3.client("s3", endpoint_url=endpoint or None, config=config)

    async def _run(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`call` in a thread, boto3's errors (after its own retries) as a StoreError."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return await asyncio.to_thread(call, *args, **kwargs)
        except (BotoCoreError, ClientError) as error:
            raise StoreError(f"ENGINE_FLEET_STORE=s3://{self.bucket}: {error}") from None

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{checked(name)}" if self.prefix else checked(name)

    async def ready(self) -> None:
        """The bucket is there and these credentials reach it."""
        await self._run(self.s3.head_bucket, Bucket=self.bucket)

    async def put(self, name: str, data: bytes) -> None:
        await self._run(self.s3.put_object, Bucket=self.bucket, Key=self._key(name), Body=data)

    async def get(self, name: str) -> bytes | None:
        return await self._run(self._read, self._key(name))

    def _read(self, object_key: str) -> bytes | None:
        try:
            return self.s3.get_object(Bucket=self.bucket, Key=object_key)["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None

    async def delete(self, names: Sequence[str]) -> None:
        await self._run(self._delete, [self._key(name) for name in names])

    def _delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):  # S3 deletes at most 1,000 objects per call
            objects = [{"Key": object_key} for object_key in keys[start : start + 1000]]
            self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True})

    async def sweep(self) -> int:
        return await self._run(self._sweep, datetime.now(UTC) - timedelta(seconds=self.ttl_s))

    def _sweep(self, before: datetime) -> int:
        start = f"{self.prefix}/easel-" if self.prefix else "easel-"
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start)
        old = [
            item["Key"]
            for page in pages
            for item in page.get("Contents", [])
            if item["LastModified"] < before and FILE_NAME.match(item["Key"].rpartition("/")[2])
        ]
        self._delete(old)
        return len(old)


def open_store(settings: EngineSettings, redis: Any) -> PictureStore:
    """The store ENGINE_FLEET_STORE names (the settings check its form), keeping files ENGINE_FLEET_RESULT_TTL_S."""
    spec, ttl_s = settings.fleet_store, settings.fleet_result_ttl_s
    if spec == "redis":
        return RedisStore(redis, ttl_s)
    if spec.startswith("dir:"):
        return FolderStore(Path(spec.removeprefix("dir:")), ttl_s)
    bucket, _, prefix = spec.removeprefix("s3://").partition("/")
    return S3Store(bucket, prefix, ttl_s, settings.fleet_s3_endpoint)
