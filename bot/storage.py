"""Persistence of the bot's records (bot/records.py): in memory, or in Redis with a TTL.

A record is JSON; pictures are raw bytes under their own names: in memory beside the records, or, with Redis,
in files on disk that Redis refers to (bot/pictures.py). Never pickle: the data crosses a process (and a Redis)
boundary and outlives a deploy.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from .pictures import PictureFolder, Pictures
from .records import JobRecord, Prefs, prefs_from_json, prefs_to_json

log = logging.getLogger(__name__)

# The memory store keeps at most this many bytes of pictures; the oldest jobs' pictures go first (their
# buttons then say "expired"). Redis with its picture folder is the place for a week of pictures.
MEMORY_BLOB_BUDGET = 1024 * 1024 * 1024
HANDLED_KEEP_S = 24 * 3600  # Telegram keeps an update it could not deliver for 24 hours
HANDLED_KEPT = 10_000  # the memory store remembers this many handled updates
QUOTA_KEEP_S = 2 * 24 * 3600  # a day's request counters outlive the day (time zones of readers, /stats)
# ⭐ favourites: their records and pictures are kept this long from the last star (a year), not the usual TTL;
# /history lists a user's latest HISTORY_KEPT requests.
FAVOURITE_KEEP_S = 365 * 24 * 3600
HISTORY_KEPT = 200


class Store:
    """The interface; MemoryStore and RedisStore implement it."""

    async def get_job(self, job_id: str) -> JobRecord | None:
        raise NotImplementedError

    async def save_job(self, record: JobRecord) -> None:
        raise NotImplementedError

    async def put_blob(self, job_id: str, name: str, data: bytes, keep: bool = False) -> None:
        """Keep a picture of a job under `name`; `keep`: for FAVOURITE_KEEP_S (a favourite's), not the TTL."""
        raise NotImplementedError

    async def get_blob(self, job_id: str, name: str) -> bytes | None:
        raise NotImplementedError

    # Requests accepted and not yet delivered, in the order they were accepted: what a restart owes users.
    async def add_pending(self, job_id: str) -> None:
        raise NotImplementedError

    async def remove_pending(self, job_id: str) -> None:
        raise NotImplementedError

    async def pending(self) -> list[str]:
        """Ids of the requests accepted and not yet delivered, oldest first."""
        raise NotImplementedError

    # Updates handled already: after a crash Telegram sends again the ones it was not told were handled.
    async def handled(self, update_id: int) -> bool:
        raise NotImplementedError

    async def mark_handled(self, update_id: int) -> None:
        raise NotImplementedError

    async def get_prefs(self, user_id: int) -> Prefs:
        raise NotImplementedError

    async def save_prefs(self, user_id: int, prefs: Prefs) -> None:
        raise NotImplementedError

    # Access lists as administrators changed them at run time (/allow, /deny): ids of users (positive) and
    # chats (negative for groups); the configured lists are the base they change.
    async def get_access(self) -> tuple[set[int], set[int]]:
        """(allowed, denied) ids."""
        raise NotImplementedError

    async def set_access(self, chat_or_user: int, allowed: bool) -> None:
        raise NotImplementedError

    # The daily quota: picture requests a user submitted on a day ("20250131") of the quota's time zone.
    async def count_request(self, user_id: int, day: str) -> int:
        """Count one more request; returns the day's count including it."""
        raise NotImplementedError

    async def uncount_request(self, user_id: int, day: str) -> None:
        raise NotImplementedError

    async def requests_on(self, user_id: int, day: str) -> int:
        raise NotImplementedError

    # A user's results, newest first (/history), and the ones they starred (/favorites): job ids.
    async def add_history(self, user_id: int, job_id: str) -> None:
        raise NotImplementedError

    async def history(self, user_id: int, start: int, count: int) -> tuple[list[str], int]:
        """Job ids from `start` (0 = newest), at most `count` of them, and how many there are in all."""
        raise NotImplementedError

    async def set_favourite(self, user_id: int, job_id: str, on: bool) -> None:
        raise NotImplementedError

    async def favourites(self, user_id: int, start: int, count: int) -> tuple[list[str], int]:
        """Like `history`, for the starred ones (newest star first)."""
        raise NotImplementedError

    async def ping(self) -> None:
        """Raises if storage does not answer (readiness)."""
        return None

    def start(self) -> None:
        """Start the store's upkeep in the background, if it has any (RedisStore: the picture sweep); close()
        stops it."""
        return None

    async def close(self) -> None:
        return None


class MemoryStore(Store):
    """Everything in this process's memory, lost with it; pictures too: files would outlive the records that refer
    to them (gone at a restart) with nothing left to say when to delete them, and tests and a bot without Redis
    leave no files behind."""

    def __init__(self, ttl_s: float, blob_budget: int = MEMORY_BLOB_BUDGET) -> None:
        self.ttl_s = ttl_s
        self.blob_budget = blob_budget
        self._jobs: dict[str, tuple[float, str]] = {}
        self._blobs: OrderedDict[tuple[str, str], tuple[float, bytes]] = OrderedDict()
        self._blob_bytes = 0
        self._prefs: dict[int, str] = {}
        self._saves = 0
        self._allowed: set[int] = set()
        self._denied: set[int] = set()
        self._requests: dict[tuple[str, int], int] = {}
        self._today = ""
        self._pending: dict[str, None] = {}  # insertion order = acceptance order
        self._handled: dict[int, None] = {}
        self._history: dict[int, dict[str, None]] = {}  # user -> job ids, oldest first
        self._favourites: dict[int, dict[str, None]] = {}

    def _expired(self, expires: float) -> bool:
        return expires < time.monotonic()

    async def get_job(self, job_id: str) -> JobRecord | None:
        entry = self._jobs.get(job_id)
        if entry is None or self._expired(entry[0]):
            self._jobs.pop(job_id, None)
            return None
        return JobRecord.from_json(entry[1])

    async def save_job(self, record: JobRecord) -> None:
        self._purge()
        ttl = FAVOURITE_KEEP_S if record.favourite else self.ttl_s
        self._jobs[record.id] = (time.monotonic() + ttl, record.to_json())

    async def put_blob(self, job_id: str, name: str, data: bytes, keep: bool = False) -> None:
        key = (job_id, name)
        old = self._blobs.pop(key, None)
        if old is not None:
            self._blob_bytes -= len(old[1])
        self._blobs[key] = (time.monotonic() + (FAVOURITE_KEEP_S if keep else self.ttl_s), data)
        self._blob_bytes += len(data)
        while self._blob_bytes > self.blob_budget and len(self._blobs) > 1:
            _, (_, dropped) = self._blobs.popitem(last=False)
            self._blob_bytes -= len(dropped)

    async def get_blob(self, job_id: str, name: str) -> bytes | None:
        entry = self._blobs.get((job_id, name))
        if entry is None or self._expired(entry[0]):
            return None
        return entry[1]

    async def handled(self, update_id: int) -> bool:
        return update_id in self._handled

    async def mark_handled(self, update_id: int) -> None:
        self._handled[update_id] = None
        if len(self._handled) > HANDLED_KEPT:
            del self._handled[next(iter(self._handled))]

    async def add_pending(self, job_id: str) -> None:
        self._pending[job_id] = None

    async def remove_pending(self, job_id: str) -> None:
        self._pending.pop(job_id, None)

    async def pending(self) -> list[str]:
        return list(self._pending)

    async def get_prefs(self, user_id: int) -> Prefs:
        return prefs_from_json(self._prefs.get(user_id))

    async def save_prefs(self, user_id: int, prefs: Prefs) -> None:
        self._prefs[user_id] = prefs_to_json(prefs)

    async def get_access(self) -> tuple[set[int], set[int]]:
        return set(self._allowed), set(self._denied)

    async def set_access(self, chat_or_user: int, allowed: bool) -> None:
        (self._allowed if allowed else self._denied).add(chat_or_user)
        (self._denied if allowed else self._allowed).discard(chat_or_user)

    async def count_request(self, user_id: int, day: str) -> int:
        if day > self._today:  # a new day: the older counts go
            self._today = day
            self._requests = {key: count for key, count in self._requests.items() if key[0] >= day}
        key = (day, user_id)
        self._requests[key] = self._requests.get(key, 0) + 1
        return self._requests[key]

    async def uncount_request(self, user_id: int, day: str) -> None:
        key = (day, user_id)
        if self._requests.get(key, 0) > 0:
            self._requests[key] -= 1

    async def requests_on(self, user_id: int, day: str) -> int:
        return self._requests.get((day, user_id), 0)

    async def add_history(self, user_id: int, job_id: str) -> None:
        _add_newest(self._history.setdefault(user_id, {}), job_id)

    async def history(self, user_id: int, start: int, count: int) -> tuple[list[str], int]:
        return _page(self._history.get(user_id, {}), start, count)

    async def set_favourite(self, user_id: int, job_id: str, on: bool) -> None:
        starred = self._favourites.setdefault(user_id, {})
        if on:
            _add_newest(starred, job_id, kept=None)
        else:
            starred.pop(job_id, None)

    async def favourites(self, user_id: int, start: int, count: int) -> tuple[list[str], int]:
        return _page(self._favourites.get(user_id, {}), start, count)

    def _purge(self) -> None:
        """Forget expired entries now and then (reads already ignore them)."""
        self._saves += 1
        if self._saves % 256:
            return
        now = time.monotonic()
        for job_id in [job_id for job_id, (expires, _) in self._jobs.items() if expires < now]:
            del self._jobs[job_id]
        for key in [key for key, (expires, data) in self._blobs.items() if expires < now]:
            self._blob_bytes -= len(self._blobs.pop(key)[1])


class RedisStore(Store):
    """Keys: easel:job:<id> (JSON) and easel:blob:<id>:<name> (the digest of a picture in `picture_dir`), both
        with the TTL; easel:pictures and easel:picture-lock:<digest> (the pictures' expiry, bot/pictures.py);
        easel:prefs:<user>; easel:access:allow and easel:access:deny (sets of ids); easel:quota:<day>:<user> (a
        counter, 2 days); easel:pending (a sorted set of job ids by acceptance time: accepted, not yet delivered);
        easel:update:<id> (an update handled, a day); easel:history:<user> and easel:favourites:<user> (sorted sets
    of job ids by time: a user's latest HISTORY_KEPT requests, and the starred ones)."""

    def __init__(self, redis: Any, ttl_s: int, prefix: str = "easel", picture_dir: Path | str = "pictures") -> None:
        self.redis = redis
        self.ttl_s = ttl_s
        self.prefix = prefix
        self.pictures = Pictures(redis, PictureFolder(Path(picture_dir)), ttl_s, prefix)
        self._sweeping: asyncio.Task | None = None

    @classmethod
    def from_url(cls, url: str, ttl_s: int, picture_dir: Path | str = "pictures") -> RedisStore:
        from redis.asyncio import Redis

        return cls(Redis.from_url(url, **redis_retry()), ttl_s, picture_dir=picture_dir)

    def _key(self, *parts: object) -> str:
        return ":".join((self.prefix, *map(str, parts)))

    async def get_job(self, job_id: str) -> JobRecord | None:
        raw = await self.redis.get(self._key("job", job_id))
        return JobRecord.from_json(raw) if raw else None

    async def save_job(self, record: JobRecord) -> None:
        ttl = FAVOURITE_KEEP_S if record.favourite else self.ttl_s
        await self.redis.set(self._key("job", record.id), record.to_json(), ex=ttl)

    async def put_blob(self, job_id: str, name: str, data: bytes, keep: bool = False) -> None:
        await self.pictures.put(self._key("blob", job_id, name), data, FAVOURITE_KEEP_S if keep else None)

    async def get_blob(self, job_id: str, name: str) -> bytes | None:
        return await self.pictures.get(self._key("blob", job_id, name))

    async def handled(self, update_id: int) -> bool:
        return bool(await self.redis.exists(self._key("update", update_id)))

    async def mark_handled(self, update_id: int) -> None:
        await self.redis.set(self._key("update", update_id), 1, ex=HANDLED_KEEP_S)

    async def add_pending(self, job_id: str) -> None:
        # NX: a request run again after a restart keeps its place (its first acceptance time).
        await self.redis.zadd(self._key("pending"), {job_id: time.time()}, nx=True)

    async def remove_pending(self, job_id: str) -> None:
        await self.redis.zrem(self._key("pending"), job_id)

    async def pending(self) -> list[str]:
        return [
            item.decode() if isinstance(item, bytes) else item
            for item in await self.redis.zrange(self._key("pending"), 0, -1)
        ]

    async def get_prefs(self, user_id: int) -> Prefs:
        return prefs_from_json(await self.redis.get(self._key("prefs", user_id)))

    async def save_prefs(self, user_id: int, prefs: Prefs) -> None:
        await self.redis.set(self._key("prefs", user_id), prefs_to_json(prefs))

    async def get_access(self) -> tuple[set[int], set[int]]:
        allowed = await self.redis.smembers(self._key("access", "allow"))
        denied = await self.redis.smembers(self._key("access", "deny"))
        return {int(i) for i in allowed}, {int(i) for i in denied}

    async def set_access(self, chat_or_user: int, allowed: bool) -> None:
        add, remove = ("allow", "deny") if allowed else ("deny", "allow")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(self._key("access", add), chat_or_user)
            pipe.srem(self._key("access", remove), chat_or_user)
            await pipe.execute()

    async def count_request(self, user_id: int, day: str) -> int:
        key = self._key("quota", day, user_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, QUOTA_KEEP_S)
            count, _ = await pipe.execute()
        return int(count)

    async def uncount_request(self, user_id: int, day: str) -> None:
        await self.redis.decr(self._key("quota", day, user_id))

    async def requests_on(self, user_id: int, day: str) -> int:
        return int(await self.redis.get(self._key("quota", day, user_id)) or 0)

    async def add_history(self, user_id: int, job_id: str) -> None:
        key = self._key("history", user_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {job_id: time.time()})
            pipe.zremrangebyrank(key, 0, -HISTORY_KEPT - 1)
            pipe.expire(key, FAVOURITE_KEEP_S)
            await pipe.execute()

    async def history(self, user_id: int, start: int, count: int) -> tuple[list[str], int]:
        return await self._page(self._key("history", user_id), start, count)

    async def set_favourite(self, user_id: int, job_id: str, on: bool) -> None:
        key = self._key("favourites", user_id)
        if on:
            await self.redis.zadd(key, {job_id: time.time()})
        else:
            await self.redis.zrem(key, job_id)

    async def favourites(self, user_id: int, start: int, count: int) -> tuple[list[str], int]:
        return await self._page(self._key("favourites", user_id), start, count)

    async def _page(self, key: str, start: int, count: int) -> tuple[list[str], int]:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrevrange(key, start, start + count - 1)
            pipe.zcard(key)
            ids, total = await pipe.execute()
        return [i.decode() if isinstance(i, bytes) else i for i in ids], int(total)

    async def ping(self) -> None:
        await self.redis.ping()  # the caller bounds the wait (the client retries a restarting Redis for ~3 s)

    def start(self) -> None:
        if self._sweeping is None:
            self._sweeping = asyncio.create_task(self.pictures.run(), name="picture-sweep")

    async def close(self) -> None:
        if self._sweeping is not None:
            self._sweeping.cancel()
            await asyncio.gather(self._sweeping, return_exceptions=True)
            self._sweeping = None
        await self.redis.aclose()


def _add_newest(ids: dict[str, None], job_id: str, kept: int | None = HISTORY_KEPT) -> None:
    """`job_id` as the newest of an ordered set of ids, keeping the `kept` newest."""
    ids.pop(job_id, None)
    ids[job_id] = None
    while kept is not None and len(ids) > kept:
        del ids[next(iter(ids))]


def _page(ids: dict[str, None], start: int, count: int) -> tuple[list[str], int]:
    newest_first = list(reversed(ids))
    return newest_first[start : start + count], len(newest_first)


def redis_retry() -> dict[str, Any]:
    """Connection options for every Redis client here: after a Redis restart, reconnect and retry a few
    times (about 3 s in all) before a request fails; a Redis that hangs fails a command after seconds instead
    of holding a user's update forever."""
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return {
        "retry": Retry(ExponentialBackoff(cap=2.0, base=0.1), retries=5),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
        "health_check_interval": 30,
        "socket_connect_timeout": 2.0,
        "socket_timeout": 3.0,
    }


def open_store(redis_url: str, ttl_s: int, picture_dir: Path | str = "pictures") -> Store:
    """Redis (pictures in files under `picture_dir`) when a URL is given, else memory."""
    return RedisStore.from_url(redis_url, ttl_s, picture_dir) if redis_url else MemoryStore(ttl_s)


def storage_down(error: BaseException) -> bool:
    """Whether an error means Redis is not answering (restarting, unreachable) rather than a bug."""
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:
        return False
    return isinstance(error, (RedisConnectionError, RedisTimeoutError))
