"""Per-user limits: flood control (a token bucket per user) and the optional daily quota of picture requests.

The quota is counted where requests enter the engine: `Metered` stands in front of the engine for the bot's
request service, so every way of asking for pictures (a prompt, a button under results, a photo) is counted once,
and a request the engine refuses (a full line) is not counted.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from engine.api import (
    EngineError,
    ImageRequest,
    ImageService,
    InterruptedTraining,
    JobResult,
    JobStatus,
    Mode,
    TrainingRequest,
)
from engine.styles import Style
from locales import Texts

from .storage import Store

log = logging.getLogger(__name__)
MAX_TRACKED_USERS = 10_000  # buckets kept in memory; idle (full) ones are forgotten past this


class Verdict(StrEnum):
    PASS = "pass"
    WARN = "warn"  # the first update over the limit: tell the user once
    DROP = "drop"  # the rest: silence


class FloodControl:
    """A token bucket per user: `burst` updates at once, then `rate_per_min` a minute.

    Over the limit the first update gets a warning and the rest nothing; the next warning comes no sooner than
    the bucket takes to fill up again (burst / rate), so someone who keeps flooding hears about it once a burst.
    """

    def __init__(self, rate_per_min: int, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate_per_s = rate_per_min / 60
        self.burst = float(burst)
        self.refill_s = self.burst / self.rate_per_s
        self.clock = clock
        self._buckets: dict[int, tuple[float, float, float]] = {}  # user -> (tokens, when, last warned)

    def take(self, user_id: int) -> Verdict:
        now = self.clock()
        tokens, when, warned = self._buckets.get(user_id, (self.burst, now, -math.inf))
        tokens = min(self.burst, tokens + (now - when) * self.rate_per_s)
        if tokens >= 1:
            tokens, verdict = tokens - 1, Verdict.PASS
        elif now - warned >= self.refill_s:
            warned, verdict = now, Verdict.WARN
        else:
            verdict = Verdict.DROP
        if user_id not in self._buckets and len(self._buckets) >= MAX_TRACKED_USERS:
            self._forget_idle(now)
        self._buckets[user_id] = (tokens, now, warned)
        return verdict

    def _forget_idle(self, now: float) -> None:
        self._buckets = {user: b for user, b in self._buckets.items() if now - b[1] < self.refill_s}


UTC = ZoneInfo("UTC")


def local_day(clock: Callable[[], float] = time.time, zone: ZoneInfo = UTC) -> str:
    """The calendar day ("20250131") it is now in `zone`."""
    return datetime.fromtimestamp(clock(), zone).strftime("%Y%m%d")


def utc_day(clock: Callable[[], float] = time.time) -> str:
    return local_day(clock, UTC)


def utc_offset(moment: datetime) -> str:
    """A moment's offset from UTC as people write it: "UTC+3", "UTC-9:30", "UTC"."""
    offset = moment.utcoffset() or timedelta(0)
    minutes = round(offset.total_seconds() / 60)
    if not minutes:
        return "UTC"
    sign, minutes = ("+" if minutes > 0 else "-"), abs(minutes)
    return f"UTC{sign}{minutes // 60}" + (f":{minutes % 60:02d}" if minutes % 60 else "")


class DailyQuota:
    """At most `per_day` picture requests per user per day (0 = no quota); administrators have none. A day is
    a calendar day in `zone` (the company's time zone): the count starts again at its midnight, not at UTC's."""

    def __init__(
        self,
        store: Store,
        per_day: int,
        exempt: frozenset[int] = frozenset(),
        clock: Callable[[], float] = time.time,
        zone: ZoneInfo = UTC,
    ) -> None:
        self.store = store
        self.per_day = per_day
        self.exempt = exempt
        self.clock = clock
        self.zone = zone

    def applies_to(self, user_id: int) -> bool:
        return self.per_day > 0 and user_id not in self.exempt

    def today(self) -> str:
        return local_day(self.clock, self.zone)

    def next_midnight(self) -> datetime:
        """The moment the count starts again: the next midnight in the quota's time zone."""
        now = datetime.fromtimestamp(self.clock(), self.zone)
        tomorrow = (now + timedelta(days=1)).date()
        return datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=self.zone)

    def reset_values(self) -> dict[str, object]:
        """What the texts say about the reset: the daily limit (`count`), the zone's offset, the time left."""
        midnight = self.next_midnight()
        left_min = max(0, math.ceil((midnight.timestamp() - self.clock()) / 60))
        return {"count": self.per_day, "zone": utc_offset(midnight), "hours": left_min // 60, "minutes": left_min % 60}

    async def take(self, user_id: int, day: str) -> bool:
        """Count one request of the user; False (and nothing counted) when the day's quota is used up."""
        if not self.applies_to(user_id):
            return True
        if await self.store.count_request(user_id, day) <= self.per_day:
            return True
        await self.store.uncount_request(user_id, day)
        return False

    async def give_back(self, user_id: int, day: str) -> None:
        if self.applies_to(user_id):
            await self.store.uncount_request(user_id, day)

    async def left(self, user_id: int) -> int | None:
        """Requests the user has left today; None when no quota applies to them."""
        if not self.applies_to(user_id):
            return None
        return max(0, self.per_day - await self.store.requests_on(user_id, self.today()))


class QuotaExceeded(EngineError):
    """The user's requests for today are used up; the bot shows `error-daily_quota`."""

    # A bot-side reason, shown like the engine's own refusals; ErrorCode names the engine's only, and the bot
    # reads a refusal's code as the str it is (str(error.code), f"error-{code}").
    code = "daily_quota"  # type: ignore[assignment]

    def __init__(self, message: str, values: dict[str, object]) -> None:
        super().__init__(message)
        self.values = values  # what its text says: the limit, when it starts again


class Metered:
    """The engine (an ImageService) behind the daily quota: a submission first takes one of the user's requests."""

    def __init__(self, engine: ImageService, quota: DailyQuota) -> None:
        self.engine = engine
        self.quota = quota

    def available_modes(self) -> frozenset[Mode]:
        return self.engine.available_modes()

    def styles(self) -> Mapping[str, Style]:
        return self.engine.styles()

    def can_beautify(self) -> bool:
        return self.engine.can_beautify()

    def can_describe(self) -> bool:
        return self.engine.can_describe()

    async def describe(self, image: bytes) -> tuple[str, ...]:
        return await self.engine.describe(image)  # a caption makes no pictures: not counted against the quota

    async def submit(self, user: str, request: ImageRequest) -> str:
        day = self.quota.today()
        try:
            counted = await self.quota.take(int(user), day)
        except Exception as error:  # storage down: let the request through rather than fail it
            log.warning("daily quota of %s not checked: %s", user, error)
            return await self.engine.submit(user, request)
        if not counted:
            raise QuotaExceeded("the daily quota is used up", self.quota.reset_values())
        try:
            return await self.engine.submit(user, request)
        except BaseException:
            with contextlib.suppress(Exception):
                await self.quota.give_back(int(user), day)
            raise

    def cancel(self, job_id: str) -> bool:
        return self.engine.cancel(job_id)

    def status(self, job_id: str) -> JobStatus | None:
        return self.engine.status(job_id)

    def events(self, job_id: str) -> AsyncIterator[JobStatus]:
        return self.engine.events(job_id)

    async def result(self, job_id: str) -> JobResult:
        return await self.engine.result(job_id)

    def check_training(self, name: str) -> None:
        self.engine.check_training(name)

    async def train_style(self, user: str, request: TrainingRequest) -> str:  # an administrator's: not metered
        return await self.engine.train_style(user, request)

    def interrupted_trainings(self) -> list[InterruptedTraining]:
        return self.engine.interrupted_trainings()

    async def resume_training(self, user: str, job_id: str, client: Mapping[str, str | int]) -> str:
        return await self.engine.resume_training(user, job_id, client)

    def forget_training(self, job_id: str) -> bool:
        return self.engine.forget_training(job_id)

    def stats(self) -> dict:
        return self.engine.stats()

    def health(self) -> dict:
        return self.engine.health()


async def quota_note(texts: Texts, quota: DailyQuota, user_id: int) -> str:
    """The line /settings adds under the settings: requests left today (empty without a quota)."""
    try:
        left = await quota.left(user_id)
    except Exception as error:  # storage down: the settings still show, without the count
        log.warning("daily quota of %s not read: %s", user_id, error)
        return ""
    if left is None:
        return ""
    return "\n" + texts("settings-quota", left=left, count=quota.per_day, zone=quota.reset_values()["zone"])
