"""FleetService: the ImageService a bot uses with ENGINE_BACKEND=redis. It loads no models; jobs go through Redis
to `python -m engine.worker` processes (one per GPU, on any machine that reaches the Redis).

The protocol's synchronous calls (status, cancel, available_modes, stats) answer from what this process mirrors:
every change of every job comes in on the events stream, and the live workers' advertisements are read every
second. A cancel is sent in the background; its end arrives as an event, like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..api import (
    MAX_COUNT,
    MAX_PROMPT_CHARS,
    MODES,
    BadRequest,
    EngineError,
    ErrorCode,
    ImageRequest,
    InterruptedTraining,
    JobCancelled,
    JobFailed,
    JobResult,
    JobState,
    JobStatus,
    Mode,
    ModeUnavailable,
    QueueFull,
    ShuttingDown,
    TrainingRefused,
    TrainingRequest,
)
from ..settings import EngineSettings
from ..styles import EmbeddingRef, LoraRef, Style, StyleError, load_styles
from .scripts import Scripts
from .stores import StoreError, file_name, open_store
from .wire import key, part_names, request_fields, result_from, text

log = logging.getLogger(__name__)
FINISHED_KEEP_S = 600  # a finished job stays known this long (its record in Redis too)
REFRESH_S = 1.0  # the live workers and the fleet's counters are read this often
LINE_EVERY_S = 0.1  # places in line are worked out at most this often (after the line changed)
NO_TRAINING = "training runs only with the in-process engine (ENGINE_BACKEND=local)"
BATCHED = (Mode.GENERATE, Mode.RESTYLE)  # modes whose jobs can share a worker's pipeline call (Studio.batch_key)


def redis_options() -> dict:
    """Reconnect after a Redis restart (a few retries, about 3 s) instead of failing at once."""
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return {
        "retry": Retry(ExponentialBackoff(cap=2.0, base=0.1), retries=5),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
        "socket_connect_timeout": 2.0,
        "socket_timeout": 10.0,
    }


def needs(request: ImageRequest) -> list[str]:
    """The capability tags a worker must advertise to run `request` (Worker.tags)."""
    tags = [f"mode:{request.mode.value}"]
    if request.beautify:
        tags.append("llm")
    return tags


def batch_hint(request: ImageRequest, default_style: str) -> str:
    """Jobs with equal hints may be given to one worker together (its engine batches what is truly compatible)."""
    if request.mode not in BATCHED or request.images:
        return ""
    style = request.style or default_style
    return f"{request.mode.value}|{request.aspect}|{style}|{request.profile or ''}|{request.steps or ''}"


def fair_order(line: list[tuple[str, int, list[str]]], running_cap: int) -> list[str]:
    """Waiting jobs in the order they start, as engine.queue.FairQueue.order: a round per user, users who may run
    now first."""
    lines = [jobs for _, running, jobs in line if running < running_cap]
    lines += [jobs for _, running, jobs in line if running >= running_cap]
    depth = max((len(jobs) for jobs in lines), default=0)
    return [jobs[round_] for round_ in range(depth) for jobs in lines if round_ < len(jobs)]


def style_from(data: dict) -> Style:
    """A style as a worker advertised it (its LoRA files are the worker's: the bot only shows names)."""
    return Style(
        id=data["id"],
        names=data["names"],
        prompt=data["prompt"],
        negative=data["negative"],
        loras=tuple(LoraRef(Path(file), strength) for file, strength in data["loras"]),
        embeddings=tuple(EmbeddingRef(Path(file), token) for file, token in data["embeddings"]),
        steps=data["steps"],
        guidance=data["guidance"],
    )


@dataclass(eq=False)
class Tracked:
    status: JobStatus
    need: list[str]
    created: float = field(default_factory=time.monotonic)
    listeners: list[asyncio.Queue] = field(default_factory=list)
    done: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    finished_at: float = 0.0
    stranded_since: float = 0.0  # since when no live worker can run it (0: one can)


class FleetService:
    """Implements engine.api.ImageService over Redis and the fleet's workers."""

    def __init__(self, redis_url: str, settings: EngineSettings, redis: Redis | None = None) -> None:
        if not redis_url and redis is None:
            raise BadRequest("ENGINE_BACKEND=redis needs REDIS_URL")
        self.settings = settings
        # Typed loosely: redis-py's stubs mix its sync and async return types.
        self.redis: Any = redis or Redis.from_url(redis_url, **redis_options())
        self.scripts = Scripts(self.redis)
        self.store = open_store(settings, self.redis)
        self.name = f"bot-{socket.gethostname()}-{os.getpid()}"
        self._jobs: dict[str, Tracked] = {}
        self._workers: dict[str, dict] = {}
        self._fleet: dict = {}
        self._styles: dict[str, Style] = _local_styles(settings)
        self._last_event = "$"
        self._line_dirty = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._background: set[asyncio.Task] = set()
        self._closing = False
        self.refused = 0

    # ---- lifecycle ----------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.store.ready()  # raises StoreError: the bot does not start with a store it cannot read
        await self.scripts.ensure_group()
        last = await self.redis.xrevrange(key("events"), count=1)
        self._last_event = last[0][0].decode() if last else "0-0"
        await self._refresh()
        self._tasks = [
            asyncio.create_task(self._consume(), name="fleet-events"),
            asyncio.create_task(self._monitor(), name="fleet-monitor"),
            asyncio.create_task(self._positions(), name="fleet-line"),
        ]
        log.info("fleet: %d live worker(s): %s", len(self._workers), ", ".join(sorted(self._workers)) or "none")

    async def close(self, drain_s: float = 60.0) -> None:
        """Stop submitting; let this process's running jobs end (≤ drain_s) so their deliveries finish. Waiting
        jobs stay in the fleet's line: their deliveries are cut short and owed (taken up again after a restart,
        bot/recovery.py attaches to them)."""
        self._closing = True
        running = [t.done for t in self._jobs.values() if t.status.state == JobState.RUNNING]
        if running:
            await asyncio.wait(running, timeout=drain_s)
        for tracked in self._jobs.values():
            if not tracked.status.state.finished:
                for queue in tracked.listeners:
                    queue.put_nowait(None)  # the follower's events end without an end: see `events`
        for task in self._tasks:
            task.cancel()

    @property
    def closing(self) -> bool:
        return self._closing

    # ---- the ImageService API -----------------------------------------------------------------------
    def available_modes(self) -> frozenset[Mode]:
        return frozenset(Mode(mode) for info in self._workers.values() for mode in info["modes"])

    def styles(self) -> Mapping[str, Style]:
        return self._styles  # updated in place when the workers' styles are known

    def can_beautify(self) -> bool:
        return any(info["llm"] for info in self._workers.values())

    def can_describe(self) -> bool:
        """Not over the fleet yet: the workers take picture jobs only, so the bot offers no /describe."""
        return False

    async def describe(self, image: bytes) -> tuple[str, ...]:
        raise ModeUnavailable("describing pictures is not served by the fleet's workers")

    async def submit(self, user: str, request: ImageRequest) -> str:
        if self._closing:
            raise ShuttingDown("the bot is restarting")
        user = str(user)
        self._check(request)
        need = needs(request)
        if not any(set(need) <= set(info["tags"]) for info in self._workers.values()):
            self.refused += 1
            raise ModeUnavailable(f"no live worker can run {' '.join(need)}")
        job_id = uuid.uuid4().hex[:12]
        try:
            await self._enqueue(job_id, user, request, need)
        except RedisError as error:  # the fleet's Redis does not answer: for a user, the machines are offline
            log.warning("request not queued: %s", error)
            raise EngineError("the fleet's Redis is not answering", ErrorCode.OFFLINE) from None
        self._jobs[job_id] = Tracked(JobStatus(job_id, user, JobState.WAITING), need)
        self._line_dirty.set()
        return job_id

    async def _enqueue(self, job_id: str, user: str, request: ImageRequest, need: list[str]) -> None:
        """The request's payload, then its place in line (the caps checked in the same step); raises QueueFull."""
        s = self.settings
        payload = key("req", job_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(payload, mapping=request_fields(request))
            pipe.expire(payload, int(s.wait_timeout_s + s.run_timeout_s) + FINISHED_KEEP_S)
            await pipe.execute()
        caps = (s.max_running_per_user + s.max_waiting_per_user, s.max_queue)
        size = 1 if MODES[request.mode].single else request.count
        hint = batch_hint(request, s.default_style)
        placed = await self.scripts.submit(
            job_id, user, caps, " ".join(need), hint, size, int(time.time() * 1000), _keep_s(s)
        )
        if placed < 0:
            await self.redis.delete(payload)
            self.refused += 1
            if placed == -1:
                raise QueueFull("your line is full", ErrorCode.USER_QUEUE_FULL)
            raise QueueFull("the queue is full", ErrorCode.QUEUE_FULL)

    def cancel(self, job_id: str) -> bool:
        tracked = self._jobs.get(job_id)
        if tracked is None or tracked.status.state.finished:
            return False
        self._spawn(self._cancel(job_id))
        return True

    async def _cancel(self, job_id: str) -> None:
        try:
            await self.scripts.cancel(job_id, "cancelled", ErrorCode.CANCELLED.value, _keep_s(self.settings))
        except RedisError as error:
            log.warning("job %s not cancelled: %s", job_id, error)

    def status(self, job_id: str) -> JobStatus | None:
        tracked = self._jobs.get(job_id)
        return tracked.status if tracked else None

    async def attach(self, job_id: str) -> JobStatus | None:
        """A job submitted before this process started (a restart): followed from now on; None if unknown."""
        if job_id in self._jobs:
            return self._jobs[job_id].status
        fields = await self.redis.hgetall(key("job", job_id))
        if not fields:
            return None
        get = lambda name: text(fields.get(name.encode()))  # noqa: E731
        need = get("need").split()
        tracked = Tracked(JobStatus(job_id, get("user"), JobState.WAITING), need)
        self._jobs[job_id] = tracked
        self._apply(tracked, {"state": get("state"), "step": get("step"), "total": get("total"), "error": get("error")})
        self._line_dirty.set()
        return tracked.status

    async def events(self, job_id: str) -> AsyncIterator[JobStatus]:
        tracked = self._jobs.get(job_id)
        if tracked is None:
            return
        queue: asyncio.Queue[JobStatus | None] = asyncio.Queue()
        tracked.listeners.append(queue)
        try:
            status: JobStatus | None = tracked.status
            while status is not None:
                yield status
                if status.state.finished:
                    return
                status = await queue.get()
            # This process is shutting down while the job goes on in the fleet: the follower stops here, and the
            # request stays owed (a delivery cancelled by a shutdown is taken up after the restart).
            raise asyncio.CancelledError
        finally:
            tracked.listeners.remove(queue)

    async def result(self, job_id: str) -> JobResult:
        tracked = self._jobs.get(job_id)
        if tracked is None:
            raise JobFailed("unknown job", ErrorCode.UNKNOWN_JOB)
        await asyncio.shield(tracked.done)  # raises JobFailed / JobCancelled
        record = await self.redis.hgetall(key("result", job_id))
        if not record:
            raise JobFailed("the result expired", ErrorCode.UNKNOWN_JOB)
        kind, attempt = text(record.get(b"store")), text(record.get(b"attempt"))
        if kind != self.store.kind:
            log.error("job %s: the workers keep pictures in %s, this bot reads %s: set one ENGINE_FLEET_STORE for "
                      "all", job_id, kind, self.store.kind)  # fmt: skip
            raise JobFailed("the pictures are in another store", ErrorCode.INTERNAL)
        parts = part_names(record[b"meta"])
        try:
            files = await asyncio.gather(*(self.store.get(file_name(job_id, attempt, part)) for part in parts))
        except StoreError as error:
            log.error("job %s: its pictures cannot be read: %s", job_id, error)
            raise JobFailed("the picture store is not answering", ErrorCode.INTERNAL) from None
        found = {part: data for part, data in zip(parts, files, strict=True) if data is not None}
        if len(found) < len(parts):
            raise JobFailed("the result expired", ErrorCode.UNKNOWN_JOB)
        return result_from(record[b"meta"], found)

    # Training a style needs its pictures, the model and the styles file on one machine with a GPU: the fleet
    # refuses it; `python -m engine train-style` on a worker's machine does it, into the workers' styles file.
    def check_training(self, name: str) -> None:
        raise TrainingRefused(NO_TRAINING, ErrorCode.TRAINING_UNAVAILABLE)

    async def train_style(self, user: str, request: TrainingRequest) -> str:
        raise TrainingRefused(NO_TRAINING, ErrorCode.TRAINING_UNAVAILABLE)

    def interrupted_trainings(self) -> list[InterruptedTraining]:
        return []

    async def resume_training(self, user: str, job_id: str, client: Mapping[str, str | int]) -> str:
        raise TrainingRefused(NO_TRAINING, ErrorCode.TRAINING_UNAVAILABLE)

    def forget_training(self, job_id: str) -> bool:
        return False

    def stats(self) -> dict:
        fleet = self._fleet
        first = next(iter(self._workers.values()), {})
        batching = {"calls": 0, "jobs": 0, "pictures": 0, "largest": 0}
        for info in self._workers.values():
            for name, value in info.get("batching", {}).items():
                batching[name] = max(batching[name], value) if name == "largest" else batching[name] + value
        return {
            "waiting": fleet.get("waiting", 0),
            "running": fleet.get("running", 0),
            "done": fleet.get("done", 0),
            "failed": fleet.get("failed", 0),
            "cancelled": fleet.get("cancelled", 0),
            "refused": self.refused,
            "per_user_done": dict(fleet.get("per_user_done", {})),
            "batching": batching,
            "model": first.get("model", ""),
            "family": first.get("family", ""),
            "workers": len(self._workers),
        }

    def health(self) -> dict:
        """The workers' devices: each one's memory, and the sums of their figures in MB."""
        workers = {name: info.get("health", {}) for name, info in self._workers.items()}
        total: dict[str, object] = {"device": f"fleet of {len(workers)} worker(s)", "workers": workers}
        for health in workers.values():
            for name, value in health.items():
                if name.endswith("_mb") and isinstance(value, int | float):
                    total[name] = int(total.get(name, 0)) + value  # type: ignore[call-overload]
        return total

    # ---- checks at submit ---------------------------------------------------------------------------
    def _check(self, request: ImageRequest) -> None:
        """What can be refused without the models, at once (a worker checks the rest: the pictures)."""
        if not self._workers:
            self.refused += 1
            raise EngineError("no live worker", ErrorCode.OFFLINE)
        if request.mode not in self.available_modes():
            self.refused += 1
            raise ModeUnavailable(f"{request.mode} is not served by any live worker")
        low, high = MODES[request.mode].sources
        if not low <= len(request.images) <= high:
            raise BadRequest(f"{request.mode} takes {low}..{high} pictures, got {len(request.images)}")
        if len(request.prompt) > MAX_PROMPT_CHARS:
            raise BadRequest(f"prompt over {MAX_PROMPT_CHARS} characters")
        if not 1 <= request.count <= MAX_COUNT:
            raise BadRequest(f"count must be 1..{MAX_COUNT}")
        if request.style is not None and request.style not in self._styles:
            raise BadRequest(f"unknown style {request.style!r}")

    # ---- following the fleet ------------------------------------------------------------------------
    async def _consume(self) -> None:
        """Every job change, from the events stream; after a lost connection, the jobs' records are read again
        (events may have been missed, or Redis restarted without them)."""
        while True:
            try:
                replies = await self.redis.xread({key("events"): self._last_event}, block=1000, count=500)
            except RedisError as error:
                log.warning("fleet events: %s; reconnecting", error)
                await asyncio.sleep(0.5)
                await self._resync()
                continue
            for _, entries in replies:
                for entry_id, fields in entries:
                    self._last_event = entry_id.decode()
                    self._on_event({k.decode(): v.decode() for k, v in fields.items()})

    def _on_event(self, event: dict[str, str]) -> None:
        if event["kind"] in ("submitted", "running", "requeued", "end"):
            self._line_dirty.set()
        tracked = self._jobs.get(event["job"])
        if tracked is not None and event["kind"] != "cancel":
            self._apply(tracked, event)
            if event.get("preview"):
                self._spawn(self._preview(tracked))

    async def _preview(self, tracked: Tracked) -> None:
        """The running job's newest live preview (its worker keeps the latest under preview:<id>)."""
        try:
            jpeg = await self.redis.get(key("preview", tracked.status.job_id))
        except RedisError:
            return  # the next one will do
        if jpeg and tracked.status.state == JobState.RUNNING:
            self._set(tracked, preview=jpeg)

    def _apply(self, tracked: Tracked, fields: dict[str, str]) -> None:
        if tracked.status.state.finished:
            return
        state = JobState(fields.get("state") or tracked.status.state)
        changes: dict = {"state": state}
        if state == JobState.RUNNING:
            changes["position"] = 0
            if fields.get("total"):
                changes["step"], changes["total_steps"] = int(fields["step"]), int(fields["total"])
        elif state == JobState.WAITING:
            changes["step"], changes["preview"] = 0, None  # back in line (its worker died): drawn anew
        else:
            changes["position"] = 0
            changes["error"] = ErrorCode(fields["error"]) if fields.get("error") else None
        self._set(tracked, **changes)
        if state.finished:
            self._finished(tracked)

    def _finished(self, tracked: Tracked) -> None:
        tracked.finished_at = time.monotonic()
        status = tracked.status
        if status.state == JobState.DONE:
            tracked.done.set_result(None)
            return
        code = status.error or ErrorCode.INTERNAL
        error = JobCancelled("cancelled", code) if status.state == JobState.CANCELLED else JobFailed(code, code)
        tracked.done.set_exception(error)
        tracked.done.exception()  # retrieved: no "exception was never retrieved" noise

    def _set(self, tracked: Tracked, **changes) -> None:
        status = replace(tracked.status, **changes)
        if status == tracked.status:
            return
        tracked.status = status
        for queue in tracked.listeners:
            queue.put_nowait(status)

    async def _resync(self) -> None:
        with contextlib.suppress(RedisError):
            last = await self.redis.xrevrange(key("events"), count=1)
            newest = last[0][0].decode() if last else "0-0"
            if self._last_event != "$" and _stream_id(newest) < _stream_id(self._last_event):
                self._last_event = newest  # a Redis that lost the stream's tail: read on from what it has
            for job_id, tracked in list(self._jobs.items()):
                if not tracked.status.state.finished:
                    fields = await self.redis.hgetall(key("job", job_id))
                    if fields:
                        self._apply(tracked, {k.decode(): v.decode() for k, v in fields.items()})
            self._line_dirty.set()

    async def _positions(self) -> None:
        """Each waiting job's place in the fleet's line, after the line changed (at most ten times a second)."""
        while True:
            await self._line_dirty.wait()
            self._line_dirty.clear()
            try:
                order = fair_order(await self.scripts.line(), self.settings.max_running_per_user)
            except RedisError as error:
                log.warning("fleet line not read: %s", error)
                await asyncio.sleep(REFRESH_S)
                continue
            for place, job_id in enumerate(order, start=1):
                tracked = self._jobs.get(job_id)
                if tracked is not None and tracked.status.state == JobState.WAITING:
                    self._set(tracked, position=place)
            await asyncio.sleep(LINE_EVERY_S)

    async def _monitor(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_S)
            try:
                await self._refresh()
                await self._sweep()
            except RedisError as error:
                log.warning("fleet not read: %s", error)

    async def _refresh(self) -> None:
        """The live workers (their advertisements outlive them by a few seconds only) and the fleet's counters."""
        names = sorted(name.decode() for name in await self.redis.smembers(key("workers")))
        infos = await self.redis.mget([key("worker", name) for name in names]) if names else []
        workers = {name: json.loads(info) for name, info in zip(names, infos, strict=True) if info}
        gone = [name for name in names if name not in workers]
        if gone:
            await self.redis.srem(key("workers"), *gone)
        if set(workers) != set(self._workers):
            log.info("fleet: live workers now %s", ", ".join(sorted(workers)) or "none")
            for name, info in workers.items():
                if info.get("store", self.store.kind) != self.store.kind:
                    log.error("fleet: worker %s keeps pictures in %s, this bot reads %s (ENGINE_FLEET_STORE)", name,
                              info["store"], self.store.kind)  # fmt: skip
        self._workers = workers
        if workers:
            styles = [style_from(data) for data in next(iter(workers.values()))["styles"]]
            if [s.id for s in styles] != list(self._styles):
                self._styles.clear()
                self._styles.update({style.id: style for style in styles})
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(key("waiting"))
            pipe.hvals(key("running"))
            pipe.hgetall(key("counters"))
            pipe.hgetall(key("done_by"))
            waiting, running, counters, done_by = await pipe.execute()
        self._fleet = {
            "waiting": int(waiting or 0),
            "running": sum(int(n) for n in running),
            **{k.decode(): int(v) for k, v in counters.items()},
            "per_user_done": {k.decode(): int(v) for k, v in done_by.items()},
        }

    async def _sweep(self) -> None:
        """End this process's waiting jobs that waited too long, or that no live worker can run (after
        ENGINE_FLEET_OFFLINE_S); hand back a dead worker's jobs even when no other worker is left to do it;
        forget finished jobs after a while."""
        s = self.settings
        now = time.monotonic()
        await self.scripts.reclaim(self.name, int(s.fleet_visibility_s * 1000))
        for job_id, tracked in list(self._jobs.items()):
            state = tracked.status.state
            if state.finished:
                if now - tracked.finished_at > FINISHED_KEEP_S:
                    del self._jobs[job_id]
                continue
            if state != JobState.WAITING:
                continue
            servable = any(set(tracked.need) <= set(info["tags"]) for info in self._workers.values())
            tracked.stranded_since = 0.0 if servable else (tracked.stranded_since or now)
            if now - tracked.created > s.wait_timeout_s:
                await self.scripts.cancel(job_id, "failed", ErrorCode.WAIT_TIMEOUT.value, _keep_s(s))
            elif tracked.stranded_since and now - tracked.stranded_since > s.fleet_offline_s:
                await self.scripts.cancel(job_id, "failed", ErrorCode.OFFLINE.value, _keep_s(s))

    def _spawn(self, work) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _stream_id(entry: str) -> tuple[int, int]:
    millis, _, seq = entry.partition("-")
    return int(millis), int(seq or 0)


def _keep_s(settings: EngineSettings) -> int:
    return int(settings.wait_timeout_s + settings.run_timeout_s) + FINISHED_KEEP_S


def _local_styles(settings: EngineSettings) -> dict[str, Style]:
    """Styles to offer before any worker said which it has: this machine's styles files, or the curated ones."""
    for extra in (settings.styles_file, None):
        with contextlib.suppress(StyleError):
            return load_styles(extra, settings.lora_dir)
    return {}
