"""Pictures behind the buttons, on disk: each set of bytes once, however many records refer to it, kept until
the last of them expires. Used by the Redis store (bot/storage.py); every bot process may share the folder.

On disk (PICTURE_DIR): <folder>/ab/cd/abcd… named by the SHA-256 of the bytes (a source copied from a result,
a user's photo kept for two requests: one file). Files are 0o600 in 0o700 folders (pictures may be confidential),
raw PNG/JPEG bytes, written to a temporary file beside their place and renamed into it (a reader never sees half
a picture).

In Redis: a reference per blob, easel:blob:<job>:<name> -> the digest, with the record's TTL; and
easel:pictures, a sorted set digest -> the time (Unix seconds) its latest reference expires, plus MARGIN_S. A
reference made again raises that time (ZADD GT), never lowers it. A sweep every SWEEP_EVERY_S deletes the files
whose time has passed.

Several processes, one folder, one Redis: a file is deleted only by a sweep that first claimed its digest, in
one Lua script, while it was expired (or, for an orphan, missing from the set); the claim takes it out of the set
and holds easel:picture-lock:<digest> for LOCK_S. A put marks the digest alive and looks for that lock in one
transaction, *then* writes the file. Either the put came first (the claim sees a live digest and leaves the file
alone) or the claim did (the put waits for the lock to go, so for the file to be deleted, then writes it again).
So no live reference ever loses its file, short of a sweeper stalled over LOCK_S between claim and unlink.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# The set's time is the reference's expiry plus this: the reference is written a moment after the set (the file
# comes between), and bot hosts' clocks may differ a little. A file outlives its last record by at most
# MARGIN_S + SWEEP_EVERY_S.
MARGIN_S = 3600
SWEEP_EVERY_S = 3600
ORPHANS_EVERY = 24  # sweeps between two walks of the whole folder for orphans (about a day)
LOCK_S = 60  # a claim holds its digest this long at most; unlinking a batch takes milliseconds
BATCH = 256
TEMP_SUFFIX = ".tmp"
TEMP_STALE_S = 3600  # a temporary file this old belongs to a write that died with its process

_DIGEST = re.compile(rb"[0-9a-f]{64}")

# Claim digests for deletion: each one whose time passed (or that is not in the set at all: an orphan) leaves
# the set and gets a lock. KEYS[1]: the set; KEYS[1 + i]: the lock of ARGV[3 + i]. ARGV: now, lock ms, token.
_CLAIM = """
local claimed = {}
for i = 4, #ARGV do
    local expires = redis.call('ZSCORE', KEYS[1], ARGV[i])
    if (not expires) or tonumber(expires) <= tonumber(ARGV[1]) then
        redis.call('ZREM', KEYS[1], ARGV[i])
        redis.call('SET', KEYS[i - 2], ARGV[3], 'PX', ARGV[2])
        table.insert(claimed, ARGV[i])
    end
end
return claimed
"""
_RELEASE = """
local released = 0
for i = 1, #KEYS do
    if redis.call('GET', KEYS[i]) == ARGV[1] then
        released = released + redis.call('DEL', KEYS[i])
    end
end
return released
"""


def digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class PictureFolder:
    """The files alone (no Redis): content-addressed, written atomically, read back or None."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest[2:4] / digest

    def write(self, digest: str, data: bytes) -> None:
        """Keep `data` (whose digest is `digest`) unless it is there already; then its age counts from now."""
        path = self.path(digest)
        with contextlib.suppress(FileNotFoundError):
            os.utime(path)  # the orphan walk goes by age: a file referenced again is young again
            return
        self._folders(path.parent)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=TEMP_SUFFIX)  # 0o600
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())  # on disk before any reference to it is
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise

    def read(self, digest: str) -> bytes | None:
        try:
            return self.path(digest).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)

    def delete_all(self, digests: list[str]) -> None:
        for digest in digests:
            self.delete(digest)

    def old_files(self, before: float) -> Iterator[str]:
        """Digests of the pictures last written or referenced before `before` (Unix time); temporary files of
        writes that died are removed on the way."""
        for first in _subfolders(self.root):
            for second in _subfolders(first):
                with os.scandir(second) as entries:
                    for entry in entries:
                        if not entry.is_file(follow_symlinks=False):
                            continue
                        modified = entry.stat(follow_symlinks=False).st_mtime
                        if entry.name.endswith(TEMP_SUFFIX):
                            if modified < time.time() - TEMP_STALE_S:
                                with contextlib.suppress(FileNotFoundError):
                                    os.unlink(entry.path)
                        elif _DIGEST.fullmatch(entry.name.encode()) and modified < before:
                            yield entry.name

    def _folders(self, folder: Path) -> None:
        # One level at a time: os.makedirs gives the intermediate folders the umask's mode, not ours.
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.parent.mkdir(mode=0o700, exist_ok=True)
        folder.mkdir(mode=0o700, exist_ok=True)


def _subfolders(folder: Path) -> list[Path]:
    try:
        with os.scandir(folder) as entries:
            return [Path(e.path) for e in entries if len(e.name) == 2 and e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []


@dataclass
class Pictures:
    """References in Redis to files in a PictureFolder, with the sweep that deletes the unreferenced ones."""

    redis: Any
    folder: PictureFolder
    ttl_s: int
    prefix: str = "easel"
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self.index = f"{self.prefix}:pictures"
        self._claim = self.redis.register_script(_CLAIM)
        self._release = self.redis.register_script(_RELEASE)

    def _lock(self, digest: str) -> str:
        return f"{self.prefix}:picture-lock:{digest}"

    async def put(self, reference: str, data: bytes, ttl_s: int | None = None) -> None:
        """Keep `data` and point `reference` (a Redis key) at it for the TTL (`ttl_s`: another one, a favourite's)."""
        ttl = ttl_s or self.ttl_s
        digest = await asyncio.to_thread(digest_of, data)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(self.index, {digest: self.clock() + ttl + MARGIN_S}, gt=True)
            pipe.exists(self._lock(digest))
            _, claimed = await pipe.execute()
        if claimed:  # a sweep is deleting the file this very moment: write it again once it is gone
            await self._until_released(digest)
        await asyncio.to_thread(self.folder.write, digest, data)
        await self.redis.set(reference, digest, ex=ttl)

    async def get(self, reference: str) -> bytes | None:
        """The bytes `reference` points at; None when it expired or its file is gone."""
        kept = await self.redis.get(reference)
        if kept is None:
            return None
        if not _DIGEST.fullmatch(kept):
            return kept  # a picture stored in Redis itself by the version before this one, until its TTL ends
        return await asyncio.to_thread(self.folder.read, kept.decode())

    async def _until_released(self, digest: str) -> None:
        deadline = time.monotonic() + LOCK_S
        while time.monotonic() < deadline and await self.redis.exists(self._lock(digest)):  # noqa: ASYNC110
            await asyncio.sleep(0.05)

    # ---- expiry -------------------------------------------------------------------------------------
    async def sweep(self, now: float | None = None) -> int:
        """Delete the files whose every reference has expired; how many."""
        now = self.clock() if now is None else now
        deleted = 0
        while True:
            expired = [d.decode() for d in await self.redis.zrangebyscore(self.index, "-inf", now, start=0, num=BATCH)]
            if not expired:
                return deleted
            deleted += await self._delete(expired, now)
            if len(expired) < BATCH:
                return deleted

    async def collect_orphans(self, now: float | None = None) -> int:
        """Delete the files nobody refers to that are older than the TTL (and not in the set: its record lost with
        a Redis flushed or restored from an older copy, a crash between a claim and its deletion); how many."""
        now = self.clock() if now is None else now
        old = await asyncio.to_thread(lambda: list(self.folder.old_files(now - self.ttl_s - MARGIN_S)))
        deleted = 0
        for start in range(0, len(old), BATCH):
            deleted += await self._delete(old[start : start + BATCH], now)
        return deleted

    async def _delete(self, digests: list[str], now: float) -> int:
        token = secrets.token_hex(8)
        locks = [self._lock(digest) for digest in digests]
        claimed = await self._claim(keys=[self.index, *locks], args=[now, LOCK_S * 1000, token, *digests])
        claimed = [digest.decode() if isinstance(digest, bytes) else digest for digest in claimed]
        try:
            await asyncio.to_thread(self.folder.delete_all, claimed)
        finally:
            if claimed:
                await self._release(keys=[self._lock(digest) for digest in claimed], args=[token])
        return len(claimed)

    async def run(self, every_s: float = SWEEP_EVERY_S) -> None:
        """Sweep now and every `every_s`, and walk the folder for orphans now and then, until cancelled."""
        rounds = 0
        while True:
            try:
                deleted = await self.sweep()
                if rounds % ORPHANS_EVERY == 0:
                    deleted += await self.collect_orphans()
                if deleted:
                    log.info("pictures: %d file(s) no record refers to any more deleted", deleted)
            except Exception as error:  # Redis restarting, a disk full: the next round tries again
                log.warning("pictures: sweep failed (%s: %s); next in %.0f s", type(error).__name__, error, every_s)
            rounds += 1
            await asyncio.sleep(every_s)
