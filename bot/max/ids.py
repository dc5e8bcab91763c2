"""The integers aiogram needs for what MAX names otherwise: message ids ("mid.…" strings) and file ids (an
attachment's URL); the text and pictures of a message with buttons (MAX edits whole messages); the long-polling
marker that says which updates were handled.

In Redis when REDIS_URL is set, so that a button pressed under a message sent before a restart still finds its
message and polling resumes where it was confirmed; otherwise in memory, like the rest of the bot's state.
(Update ids need no map: bot/max/convert.py derives them from the update itself.)
"""

from __future__ import annotations

import itertools
import json
from collections import OrderedDict
from typing import Any, NamedTuple

MEMORY_KEPT = 100_000  # ids remembered in memory (each a few dozen bytes); the oldest are forgotten first


class Kept(NamedTuple):
    """What a message with buttons showed besides them, to send again when only a part of it changes: its text
    (HTML, as the bot gave it) and its pictures or file (attachments as POST /messages takes them)."""

    text: str | None
    media: list[dict]


class IdMap:
    """Memory. RedisIdMap keeps the same in Redis."""

    def __init__(self) -> None:
        self._ids: OrderedDict[str, int] = OrderedDict()  # mid -> int
        self._mids: OrderedDict[int, str] = OrderedDict()  # int -> mid
        self._files: OrderedDict[str, str] = OrderedDict()  # file id -> URL
        self._kept: OrderedDict[str, Kept] = OrderedDict()  # mid -> what a message with buttons shows besides them
        self._counter = itertools.count(1)
        self._marker: int | None = None

    async def message_id(self, mid: str) -> int:
        """The integer standing for MAX message `mid` (the same one every time)."""
        if mid not in self._ids:
            number = next(self._counter)
            _put(self._ids, mid, number)
            _put(self._mids, number, mid)
        return self._ids[mid]

    async def mid(self, message_id: int) -> str | None:
        return self._mids.get(message_id)

    async def put_file(self, file_id: str, url: str) -> None:
        _put(self._files, file_id, url)

    async def file_url(self, file_id: str) -> str | None:
        return self._files.get(file_id)

    async def keep(self, mid: str, kept: Kept) -> None:
        """What a message with buttons shows besides them: changing its keyboard or caption later must send the
        rest again (MAX edits whole messages)."""
        _put(self._kept, mid, kept)

    async def kept(self, mid: str) -> Kept | None:
        return self._kept.get(mid)

    async def marker(self) -> int | None:
        return self._marker

    async def confirm(self, marker: int | None) -> None:
        """`marker` was passed to MAX: every update before it is handled."""
        self._marker = marker

    async def close(self) -> None:
        return None


def _put(table: OrderedDict, key: Any, value: Any) -> None:
    table[key] = value
    table.move_to_end(key)
    while len(table) > MEMORY_KEPT:
        table.popitem(last=False)


class RedisIdMap(IdMap):
    def __init__(self, redis: Any, ttl_s: int, prefix: str = "easel:max") -> None:
        super().__init__()
        self.redis = redis
        self.ttl_s = ttl_s  # as long as the buttons under a result work (JOB_TTL_S)
        self.prefix = prefix

    @classmethod
    def from_url(cls, url: str, ttl_s: int) -> RedisIdMap:
        from redis.asyncio import Redis

        from bot.storage import redis_retry

        return cls(Redis.from_url(url, decode_responses=True, **redis_retry()), ttl_s)

    def _key(self, *parts: object) -> str:
        return ":".join((self.prefix, *map(str, parts)))

    async def message_id(self, mid: str) -> int:
        known = await self.redis.get(self._key("mid", mid))
        if known is not None:
            return int(known)
        number = int(await self.redis.incr(self._key("next-message")))
        # Two processes giving one mid two numbers: the first written wins, the other asks again.
        if not await self.redis.set(self._key("mid", mid), number, ex=self.ttl_s, nx=True):
            return int(await self.redis.get(self._key("mid", mid)))
        await self.redis.set(self._key("id", number), mid, ex=self.ttl_s)
        return number

    async def mid(self, message_id: int) -> str | None:
        return await self.redis.get(self._key("id", message_id))

    async def put_file(self, file_id: str, url: str) -> None:
        await self.redis.set(self._key("file", file_id), url, ex=self.ttl_s)

    async def file_url(self, file_id: str) -> str | None:
        return await self.redis.get(self._key("file", file_id))

    async def keep(self, mid: str, kept: Kept) -> None:
        await self.redis.set(self._key("kept", mid), json.dumps(kept._asdict()), ex=self.ttl_s)

    async def kept(self, mid: str) -> Kept | None:
        found = await self.redis.get(self._key("kept", mid))
        return Kept(**json.loads(found)) if found is not None else None

    async def marker(self) -> int | None:
        value = await self.redis.get(self._key("marker"))
        return int(value) if value is not None else None

    async def confirm(self, marker: int | None) -> None:
        if marker is not None:
            await self.redis.set(self._key("marker"), marker)

    async def close(self) -> None:
        await self.redis.aclose()


def open_ids(redis_url: str, ttl_s: int) -> IdMap:
    return RedisIdMap.from_url(redis_url, ttl_s) if redis_url else IdMap()
