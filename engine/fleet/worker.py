"""`python -m engine.worker`: one GPU's worker in the fleet. It runs the in-process Engine (the same ENGINE_*
settings, ENGINE_DEVICE=cuda:N for its GPU) and feeds it from the fleet's fair line in Redis.

When idle it takes the next jobs by turn that it can run (several users' compatible jobs at once: its engine
batches them into one call), runs them, publishes their progress, stores their pictures in Redis and ends them.
Its held jobs are pending entries of the work stream; it touches them while it lives, so that when it dies
(kill -9, a lost machine) they go idle, and after ENGINE_FLEET_VISIBILITY_S any other process claims them back to
the head of their users' lines. SIGTERM: no new jobs; the running ones finish (≤ SHUTDOWN_DRAIN_S), or go back to
the line at once for another worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..api import EngineError, ErrorCode, ImageRequest, JobState, JobStatus, Mode
from ..settings import EngineSettings
from .client import redis_options
from .scripts import Held, Scripts
from .stores import SWEEP_S, StoreError, file_name, open_store
from .wire import key, request_from, result_meta, result_parts, text

log = logging.getLogger("engine.worker")
HEARTBEAT_S = 2.0  # the advertisement is renewed this often, and lives three times as long
PREVIEW_KEEP_S = 60  # a running job's latest preview stays in Redis this long (each new one replaces it)


class WorkerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    redis_url: str = Field(min_length=1)  # the Redis of the bots (REDIS_URL): where the line and results are
    shutdown_drain_s: float = Field(60.0, ge=0)  # SIGTERM: how long the running jobs may finish
    health_file: Path | None = None  # touched at every heartbeat: a container's healthcheck reads its age
    log_level: str = "INFO"
    engine: EngineSettings = Field(default_factory=EngineSettings)


class Worker:
    def __init__(
        self,
        settings: EngineSettings,
        redis_url: str,
        engine=None,
        redis: Redis | None = None,
        drain_s: float = 60.0,
        health_file: Path | None = None,
    ) -> None:
        self.settings = settings
        self.drain_s = drain_s
        self.health_file = health_file
        self._engine = engine  # made in `run`, once this worker knows its GPU
        self.gpu_claim = ""  # the Redis key of the GPU this worker took (ENGINE_DEVICE=cuda or auto)
        # Typed loosely: redis-py's stubs mix its sync and async return types.
        self.redis: Any = redis or Redis.from_url(redis_url, **redis_options())
        self.scripts = Scripts(self.redis)
        self.store = open_store(settings, self.redis)
        self.name = settings.fleet_name or f"{socket.gethostname()}-{os.getpid()}"
        self.held: dict[str, Held] = {}  # fleet job id -> what this worker holds
        self.local: dict[str, str] = {}  # fleet job id -> the job's id in this worker's engine
        self.wake = asyncio.Event()  # the line may have something for us
        self.idle = asyncio.Event()  # nothing held
        self.stopping = asyncio.Event()
        self.started = time.time()
        self._tasks: set[asyncio.Task] = set()

    @property
    def engine(self):
        if self._engine is None:
            raise RuntimeError("the worker's engine is made when it runs")
        return self._engine

    # ---- what this worker can do --------------------------------------------------------------------
    def modes(self) -> list[str]:
        """The modes it serves: its engine's, and 4K only with an upscaler model (the fleet sends 4K jobs to the
        workers that have one, rather than upscaling with Lanczos)."""
        modes = set(self.engine.available_modes())
        if not _has_upscaler(self.settings):
            modes.discard(Mode.UPSCALE)
        return sorted(mode.value for mode in modes)

    def tags(self) -> list[str]:
        """Capability tags a job's needs are matched against (client.needs)."""
        return [f"mode:{mode}" for mode in self.modes()] + (["llm"] if self.engine.can_beautify() else [])

    def advertisement(self) -> dict:
        stats = self.engine.stats()
        return {
            "name": self.name,
            "modes": self.modes(),
            "tags": self.tags(),
            "llm": self.engine.can_beautify(),
            "family": stats.get("family", ""),
            "model": stats.get("model", ""),
            "health": self.engine.health(),
            "batching": stats.get("batching", {}),
            "done": stats.get("done", 0),
            "holding": len(self.held),
            "styles": [_style_data(style) for style in self.engine.styles().values()],
            "started": self.started,
            "store": self.store.kind,
        }

    # ---- running ------------------------------------------------------------------------------------
    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        await self.store.ready()  # before the models: a wrong store is told in a second, not after a load
        await self._until_redis(self._claim_gpu, bound_s=60)
        if self.settings.device.startswith("cuda:"):  # this worker's GPU is the current one (memory figures too)
            import torch

            torch.cuda.set_device(torch.device(self.settings.device))
        if self._engine is None:
            from ..service import Engine

            self._engine = Engine(self.settings)  # loads the models
        await self.engine.start()
        await self._until_redis(self.scripts.ensure_group)
        await self._until_redis(self._advertise)
        log.info("worker %s serving %s", self.name, " ".join(self.tags()))
        background = [
            asyncio.create_task(self._heartbeat(), name="worker-heartbeat"),
            asyncio.create_task(self._listen(), name="worker-events"),
            asyncio.create_task(self._reclaim(), name="worker-reclaim"),
            asyncio.create_task(self._sweep(), name="worker-sweep"),
        ]
        try:
            await self._serve()
        finally:
            await self._stop(background)

    async def _serve(self) -> None:
        self.idle.set()
        while not self.stopping.is_set():
            if self.held:
                await _first(self.idle.wait(), self.stopping.wait())
                continue
            try:
                taken = await self.scripts.take(
                    self.name, self.settings.max_running_per_user, self.settings.batch_max, self.tags()
                )
            except RedisError as error:
                log.warning("line not read: %s", error)
                await _first(self.stopping.wait(), asyncio.sleep(0.5))
                continue
            if taken:
                await self._start(taken)
                continue
            self.wake.clear()
            with contextlib.suppress(TimeoutError):  # events wake us; the timeout covers a missed one
                await asyncio.wait_for(_first(self.wake.wait(), self.stopping.wait()), 1.0)

    async def _start(self, taken: list[Held]) -> None:
        """Hand the taken jobs to the engine together (so that it can batch them), then follow each."""
        loaded: list[tuple[Held, str, ImageRequest | None, str]] = []
        for held in taken:
            self.held[held.job] = held
            self.idle.clear()
            fields, (user, cancel) = await self._until_redis(lambda held=held: self._read_job(held))
            try:
                request = request_from(fields) if fields else None
            except (KeyError, TypeError, ValueError):
                log.exception("job %s: its request cannot be read", held.job)
                request = None
            loaded.append((held, text(user), request, text(cancel)))
        for held, user, request, cancel in loaded:  # no await between the submissions: one batch
            if request is None:
                self._in_background(self._end(held, JobState.FAILED, ErrorCode.BAD_REQUEST))
                continue
            try:
                local = await self.engine.submit(user, request)
            except EngineError as error:
                self._in_background(self._end(held, JobState.FAILED, error.code))
                continue
            self.local[held.job] = local
            if cancel:
                self.engine.cancel(local)
            self._in_background(self._follow(held, local))

    async def _read_job(self, held: Held) -> list:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(key("req", held.job))
            pipe.hmget(key("job", held.job), ["user", "cancel"])
            return await pipe.execute()

    async def _follow(self, held: Held, local: str) -> None:
        final: JobStatus | None = None
        shown: tuple = (0, 0, None)
        async for status in self.engine.events(local):
            final = status
            # The engine paces steps (≤ 4 a second) and previews (≤ 1 a second, small JPEGs): each change goes out.
            if status.state == JobState.RUNNING and (status.step, status.total_steps, status.preview) != shown:
                fresh = status.preview if status.preview is not shown[2] else None
                shown = (status.step, status.total_steps, status.preview)
                with contextlib.suppress(RedisError):  # progress is best effort; the end is not
                    await self.scripts.progress(held, status.step, status.total_steps, fresh, PREVIEW_KEEP_S)
        if final is None or not final.state.finished:
            await self._end(held, JobState.FAILED, ErrorCode.INTERNAL)
        elif final.state == JobState.DONE:
            try:
                result = final.result or await self.engine.result(local)
                files = await self._store(held, result)
            except EngineError as error:
                await self._end(held, JobState.FAILED, error.code)
                return
            except StoreError as error:
                log.error("job %s: its pictures cannot be stored: %s", held.job, error)
                await self._end(held, JobState.FAILED, ErrorCode.INTERNAL)
                return
            await self._end(held, JobState.DONE, None, files)
        else:
            await self._end(held, final.state, final.error or ErrorCode.INTERNAL)

    async def _store(self, held: Held, result) -> list[str]:
        """The pictures into the picture store, then their record, staged under this attempt (FINISH makes it the
        job's result only if this attempt still holds the job). The files' names, to remove if it does not."""
        files = {file_name(held.job, held.attempt, part): data for part, data in result_parts(result).items()}
        await asyncio.gather(*(self._until_redis(lambda n=n, d=d: self.store.put(n, d)) for n, d in files.items()))
        record = {"meta": result_meta(result), "store": self.store.kind, "attempt": held.attempt}
        staged = key("result", held.job, held.attempt)

        async def stage() -> None:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hset(staged, mapping=record)
                pipe.expire(staged, self.settings.fleet_result_ttl_s)
                await pipe.execute()

        await self._until_redis(stage)
        return list(files)

    async def _end(self, held: Held, state: JobState, error: ErrorCode | None, files: list[str] | None = None) -> None:
        s = self.settings
        keep = int(s.wait_timeout_s + s.run_timeout_s) + 600
        try:
            ended = await self._until_redis(
                lambda: self.scripts.finish(held, state.value, error.value if error else "", keep, s.fleet_result_ttl_s)
            )
            if not ended:
                log.warning("job %s: taken over by another worker meanwhile; this result is dropped", held.job)
                with contextlib.suppress(RedisError, StoreError):  # else the sweep takes them
                    await self.store.delete(files or [])
        finally:
            self.held.pop(held.job, None)
            self.local.pop(held.job, None)
            if not self.held:
                self.idle.set()

    async def _until_redis(self, call, bound_s: float | None = None):
        """`call()` again until Redis answers (it may be restarting), for at most `bound_s` (default: twice the
        visibility timeout, after which the job is someone else's anyway)."""
        deadline = time.monotonic() + (bound_s or 2 * self.settings.fleet_visibility_s)
        while True:
            try:
                return await call()
            except RedisError as error:
                if time.monotonic() > deadline:
                    raise
                log.warning("redis: %s; retrying", error)
                await asyncio.sleep(0.5)

    async def _claim_gpu(self) -> None:
        """ENGINE_DEVICE=cuda (or auto) on a machine with GPUs: the first one no other worker holds, by its UUID
        (Docker gives every replica of a scaled service the same devices: docker/compose#11863)."""
        if self.settings.device not in ("cuda", "auto"):
            return
        import torch

        if not torch.cuda.is_available():
            return
        for index in range(torch.cuda.device_count()):
            claim = key("gpu", str(torch.cuda.get_device_properties(index).uuid))
            if await self.redis.set(claim, self.name, nx=True, ex=int(3 * HEARTBEAT_S)):
                self.gpu_claim = claim
                self.settings = self.settings.model_copy(update={"device": f"cuda:{index}"})
                log.info("worker %s takes GPU %d", self.name, index)
                return
        raise SystemExit(
            f"engine.worker: each of the {torch.cuda.device_count()} GPU(s) here has a worker already; "
            "set ENGINE_DEVICE=cuda:N to share one"
        )

    # ---- in the background --------------------------------------------------------------------------
    async def _advertise(self) -> None:
        touched = [held.entry for held in self.held.values()]
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(key("worker", self.name), json.dumps(self.advertisement()), ex=int(3 * HEARTBEAT_S))
            pipe.sadd(key("workers"), self.name)
            if self.gpu_claim:
                pipe.set(self.gpu_claim, self.name, ex=int(3 * HEARTBEAT_S))
            await pipe.execute()
        await self.scripts.touch(self.name, touched)
        if self.health_file is not None:
            self.health_file.touch()

    async def _heartbeat(self) -> None:
        period = min(HEARTBEAT_S, self.settings.fleet_visibility_s / 3)
        while True:
            await asyncio.sleep(period)
            try:
                await self._advertise()
            except RedisError as error:
                log.warning("heartbeat: %s", error)

    async def _listen(self) -> None:
        """Wake up when the line changes; stop a held job between steps when its user cancels it."""
        last = "$"
        while True:
            try:
                replies = await self.redis.xread({key("events"): last}, block=1000, count=500)
            except RedisError:
                await asyncio.sleep(0.5)
                last = "$"
                self.wake.set()
                await self._cancelled_meanwhile()
                continue
            for _, entries in replies:
                for entry_id, fields in entries:
                    last = entry_id.decode()
                    kind, job = fields[b"kind"].decode(), fields[b"job"].decode()
                    if kind == "cancel" and job in self.local:
                        log.info("job %s: cancelled by its user", job)
                        self.engine.cancel(self.local[job])
                    elif kind in ("submitted", "requeued", "end"):
                        self.wake.set()

    async def _cancelled_meanwhile(self) -> None:
        """After a lost connection: the cancel events of that time are gone, the jobs' `cancel` fields are not."""
        with contextlib.suppress(RedisError):
            for job, local in list(self.local.items()):
                if await self.redis.hget(key("job", job), "cancel"):
                    self.engine.cancel(local)

    async def _reclaim(self) -> None:
        visibility = self.settings.fleet_visibility_s
        while True:
            await asyncio.sleep(max(0.2, visibility / 5))
            try:
                back = await self.scripts.reclaim(self.name, int(visibility * 1000))
            except RedisError:
                continue
            if back:
                log.warning("job(s) %s of a worker that stopped answering: back in line", ", ".join(back))
                self.wake.set()

    async def _sweep(self) -> None:
        """Files of the picture store older than the TTL go (a folder or a bucket: Redis expires its own); by one
        worker of the fleet at a time."""
        period = min(SWEEP_S, self.settings.fleet_result_ttl_s / 4)
        while True:
            with contextlib.suppress(RedisError):
                if await self.redis.set(key("sweep"), self.name, nx=True, ex=max(1, int(period))):
                    try:
                        if removed := await self.store.sweep():
                            log.info("picture store: %d expired file(s) removed", removed)
                    except StoreError as error:
                        log.warning("picture store not swept: %s", error)
            await asyncio.sleep(period)

    def _in_background(self, work) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _stop(self, background: list[asyncio.Task]) -> None:
        drain = self.drain_s
        if self.held:
            log.info("stopping: %d job(s) finishing (≤ %.0f s)", len(self.held), drain)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.idle.wait(), drain)
        for held in list(self.held.values()):  # not finished in time: another worker takes them over now
            with contextlib.suppress(RedisError):
                if await self.scripts.release(held):
                    log.info("job %s handed back to the line", held.job)
        for task in background:
            task.cancel()
        with contextlib.suppress(RedisError):
            await self.redis.delete(key("worker", self.name), *([self.gpu_claim] if self.gpu_claim else []))
            await self.redis.srem(key("workers"), self.name)
        await self.engine.close(0)
        await self.redis.aclose()
        log.info("worker %s stopped", self.name)


def _has_upscaler(settings: EngineSettings) -> bool:
    from ..models import with_tiny_kit

    return bool(with_tiny_kit(settings).upscaler)


def _style_data(style) -> dict:
    return {
        "id": style.id,
        "names": style.names,
        "prompt": style.prompt,
        "negative": style.negative,
        "loras": [[str(lora.file), lora.strength] for lora in style.loras],
        "embeddings": [[str(ref.file), ref.token] for ref in style.embeddings],
        "steps": style.steps,
        "guidance": style.guidance,
    }


async def _first(*waits) -> None:
    """Wait until the first of `waits` is done; cancel the others."""
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


def main() -> int:
    try:
        settings = WorkerSettings()
    except ValidationError as error:
        names = ", ".join("_".join(str(part) for part in problem["loc"]).upper() for problem in error.errors())
        print(f"engine.worker: check {names}: {error.errors()[0]['msg']}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stdout,
    )
    for noisy in ("httpx", "urllib3", "diffusers", "transformers", "botocore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        worker = Worker(
            settings.engine, settings.redis_url, drain_s=settings.shutdown_drain_s, health_file=settings.health_file
        )
        asyncio.run(worker.run())
    except StoreError as error:
        print(f"engine.worker: {error}", file=sys.stderr)
        return 2
    return 0
