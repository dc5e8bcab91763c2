"""The in-process engine: admission, the fair queue, one GPU worker thread, events, cancellation, timeouts.

All bookkeeping, and `Studio.plan` at submit, happens on the asyncio loop; only `Studio.render` (and the
warm-up's `Studio.run`) executes on the single worker thread (diffusers pipelines are not thread-safe: issues
1606, 3672, 5749, 9362). Progress from the thread comes back through `loop.call_soon_threadsafe`.

A brand style being trained (train_style) is the lowest priority: the worker gives it a turn, one training step on
the same thread (engine/training/jobs.py), only when no drawing waits. Its set-up (loading its own copy of the model,
encoding the pictures: up to a minute on a large model) runs on a thread of its own, while drawings go on.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import shutil
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from .api import (
    BadImage,
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
from .health import device_memory
from .images import decode_source
from .preview import PreviewClock, latent_preview
from .queue import FairQueue
from .settings import EngineSettings
from .studio import Hooks, OutOfMemory, Plan, Studio
from .styles import Style
from .training import jobs as training
from .training.style import TrainingError, peak_rss_mb

log = logging.getLogger(__name__)
FINISHED_KEEP_S = 600  # finished jobs stay queryable this long
KEPT_SWEEP_S = 3600  # how often interrupted trainings left too long are looked for
# A finished job's pictures (megabytes of PNG each) leave memory COLLECTED_KEEP_S after its client has them (its
# events ended, or `result` returned), RESULT_KEEP_S after the end if nobody came. Kept the whole FINISHED_KEEP_S,
# a busy server held ten minutes of results (a soak of 1,000 requests grew the bot by 0.1 MB a request).
COLLECTED_KEEP_S = 5.0
RESULT_KEEP_S = 60.0
ACTIVE_USER_S = 30.0  # a user who submitted this recently may send more: worth a gather window
PROGRESS_EVERY_S = 0.25  # step reports to the event loop: the first, the last, and at most four a second between


@dataclass(eq=False)
class Job:
    id: str
    user: str
    request: ImageRequest
    plan: Plan
    created: float = field(default_factory=time.monotonic)
    status: JobStatus = field(init=False)
    stop: threading.Event = field(default_factory=threading.Event)
    stop_reason: ErrorCode | None = None
    finished_at: float = 0.0
    collected: bool = False  # the client has the end of it (and its pictures)
    done: asyncio.Future | None = None
    listeners: list[asyncio.Queue] = field(default_factory=list)
    peers: list[Job] = field(default_factory=list)  # every job of the pipeline call this one runs in

    @property
    def size(self) -> int:
        return len(self.plan.seeds)


class Engine:
    """Implements engine.api.ImageService in this process."""

    def __init__(self, settings: EngineSettings, studio: Studio | None = None) -> None:
        self.settings = settings
        self.studio = studio or Studio(settings)
        self._queue: FairQueue[Job] = FairQueue()
        self._jobs: dict[str, Job] = {}
        self._running: dict[str, Job] = {}
        self._wakeup = asyncio.Event()
        self._closing = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="easel-gpu")
        # PNG + preview encoding off the GPU thread: the next call starts while the last one's files are written.
        self._encoder = ThreadPoolExecutor(max_workers=settings.encode_threads, thread_name_prefix="easel-encode")
        self._encoding: set[asyncio.Task] = set()
        # A training's set-up touches only its own copy of the model: off the GPU thread, so drawings do not wait.
        self._training_setup = ThreadPoolExecutor(max_workers=1, thread_name_prefix="easel-train-setup")
        self._setting_up: asyncio.Task | None = None
        self._tasks: list[asyncio.Task] = []
        self.counters = {"done": 0, "failed": 0, "cancelled": 0, "refused": 0}
        self.per_user_done: dict[str, int] = {}
        # Pipeline calls the worker made, and the jobs/pictures they served (batching at work).
        self.batching = {"calls": 0, "jobs": 0, "pictures": 0, "largest": 0}
        self._last_submit: dict[str, float] = {}  # user -> when they last submitted (gather window)
        self._training: training.TrainingJob | None = None  # the style being trained (one at a time)
        self._trainings: dict[str, training.TrainingJob] = {}  # by id, finished ones too (for a while)

    # ---- lifecycle ----------------------------------------------------------------------------------
    async def start(self) -> None:
        if self.settings.warmup:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._warmup)
        training.sweep_kept(self.settings, busy=())
        self._tasks = [
            asyncio.create_task(self._work(), name="easel-worker"),
            asyncio.create_task(self._sweep(), name="easel-sweeper"),
        ]

    def _warmup(self) -> None:
        """Small calls so that the first user pays no lazy initialisation (or compilation: with
        ENGINE_COMPILE the warm-up covers the common picture shapes, see engine/perf.py)."""
        from .perf import warmup_requests

        for request in warmup_requests(self.settings):
            plan = self.studio.plan(request)
            plan.steps = min(plan.steps, 2)
            self.studio.run([plan], Hooks())

    async def close(self, drain_s: float = 60.0) -> None:
        """Stop taking jobs; cancel waiting ones; let the running one finish within drain_s, then interrupt it."""
        self._closing = True
        await self._interrupt_training()
        for job in list(self._queue.order()):
            self._queue.remove(job)
            self._finish(job, JobState.CANCELLED, error=ErrorCode.SHUTTING_DOWN)
        running = [job.done for job in self._running.values() if job.done is not None]
        if running:
            _, pending = await asyncio.wait(running, timeout=drain_s)
            for job in list(self._running.values()):
                job.stop_reason = ErrorCode.SHUTTING_DOWN
                job.stop.set()
            if pending:
                await asyncio.wait(pending, timeout=30)
        for task in [*self._tasks, *([self._setting_up] if self._setting_up else [])]:
            task.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._training_setup.shutdown(wait=False, cancel_futures=True)
        self._encoder.shutdown(wait=False, cancel_futures=True)

    @property
    def closing(self) -> bool:
        return self._closing

    # ---- the ImageService API -----------------------------------------------------------------------
    def available_modes(self) -> frozenset[Mode]:
        return self.studio.available_modes()

    def styles(self) -> Mapping[str, Style]:
        return self.studio.styles

    def can_beautify(self) -> bool:
        return getattr(self.studio.models, "llm", None) is not None

    def can_describe(self) -> bool:
        return self.studio.can_describe()

    async def describe(self, image: bytes) -> tuple[str, ...]:
        """Prompts that describe the picture (ImageService.describe). One caption is a fraction of a second of
        the device, less than a single denoising step of most pictures: it takes the worker thread between two
        pipeline calls instead of a place in the fair queue, and no user's caps."""
        if self._closing:
            raise ShuttingDown("the engine is restarting")
        if not self.can_describe():
            raise ModeUnavailable("no captioning model is configured (ENGINE_CAPTION_MODEL)")
        picture = decode_source(image).picture  # a bad file is refused at once, off the worker thread
        loop = asyncio.get_running_loop()
        try:
            prompts = await loop.run_in_executor(self._executor, self.studio.describe, picture)
        except OutOfMemory:
            await loop.run_in_executor(self._executor, _free_memory)
            raise OutOfMemoryFailure("out of memory while describing a picture") from None
        except Exception:
            log.exception("describing a picture failed")
            raise JobFailed("describing the picture failed", ErrorCode.INTERNAL) from None
        return tuple(prompts)

    async def submit(self, user: str, request: ImageRequest) -> str:
        if self._closing:
            raise ShuttingDown("the engine is restarting")
        user = str(user)
        s = self.settings
        in_flight = self._queue.waiting_of(user) + self._running_of(user)
        if in_flight >= s.max_running_per_user + s.max_waiting_per_user:
            self.counters["refused"] += 1
            raise QueueFull("your line is full", ErrorCode.USER_QUEUE_FULL)
        if len(self._queue) >= s.max_queue:
            self.counters["refused"] += 1
            raise QueueFull("the queue is full", ErrorCode.QUEUE_FULL)
        plan = self.studio.plan(request)  # raises BadRequest/BadImage/ModeUnavailable at once
        job = Job(uuid.uuid4().hex[:12], user, request, plan)
        job.done = asyncio.get_running_loop().create_future()
        job.status = JobStatus(job.id, user, JobState.WAITING, total_steps=plan.steps)
        self._jobs[job.id] = job
        self._last_submit[user] = time.monotonic()
        self._queue.push(job)
        self._publish_positions()
        self._wakeup.set()
        return job.id

    def cancel(self, job_id: str) -> bool:
        if job_id in self._trainings:
            return self._cancel_training(self._trainings[job_id])
        job = self._jobs.get(job_id)
        if job is None or job.status.state.finished:
            return False
        if self._queue.remove(job):
            self._finish(job, JobState.CANCELLED, error=ErrorCode.CANCELLED)
            self._publish_positions()
            return True
        job.stop_reason = ErrorCode.CANCELLED
        job.stop.set()  # checked between denoising steps
        if any(not peer.stop.is_set() for peer in job.peers):
            # Batched with others who still want their pictures: the call goes on, this user is told now.
            self._finish(job, JobState.CANCELLED, error=ErrorCode.CANCELLED)
        return True

    def status(self, job_id: str) -> JobStatus | None:
        job = self._jobs.get(job_id) or self._trainings.get(job_id)
        return job.status if job else None

    async def events(self, job_id: str) -> AsyncIterator[JobStatus]:
        job = self._jobs.get(job_id) or self._trainings.get(job_id)
        if job is None:
            return
        queue: asyncio.Queue[JobStatus] = asyncio.Queue()
        job.listeners.append(queue)
        try:
            status = job.status
            yield status
            while not status.state.finished:
                status = await queue.get()
                yield status
            job.collected = True
        finally:
            job.listeners.remove(queue)

    async def result(self, job_id: str) -> JobResult:
        job = self._jobs.get(job_id)
        if job is None or job.done is None:  # unknown, or its pictures were not collected in RESULT_KEEP_S
            raise JobFailed("unknown job", ErrorCode.UNKNOWN_JOB)
        done = job.done
        await asyncio.shield(done)
        job.collected = True
        return done.result()

    # ---- brand styles, trained at the lowest priority ------------------------------------------------
    def check_training(self, name: str) -> None:
        busy = self._training.request.name if self._training is not None else None
        training.check(name, self.settings, self.studio.models.family, self.styles(), busy)

    async def train_style(self, user: str, request: TrainingRequest) -> str:
        if self._closing:
            raise ShuttingDown("the engine is restarting")
        self.check_training(request.name)
        training.check_pictures(request)
        job = training.TrainingJob(uuid.uuid4().hex[:12], str(user), request, self.settings)
        await asyncio.get_running_loop().run_in_executor(self._training_setup, job.keep)  # raises BadImage
        if self._closing:  # a shutdown began meanwhile: the next start offers the pictures kept
            raise ShuttingDown("the engine is restarting")
        try:
            self.check_training(request.name)  # (another one accepted meanwhile)
        except TrainingRefused:
            job.discard()
            raise
        self._training = self._trainings[job.id] = job
        log.info("training of style %r queued: %d pictures", request.name, len(request.pictures))
        self._wakeup.set()
        return job.id

    async def _interrupt_training(self) -> None:
        """A shutdown stops the training after the step in progress (hours are not worth waiting for) and writes
        a checkpoint: its pictures and that checkpoint stay on disk for a resume (interrupted_trainings)."""
        job = self._training
        if job is None:
            return
        job.stop_reason = ErrorCode.SHUTTING_DOWN  # no more turns; a set-up in progress ends by itself
        if job.step_done is not None:
            await asyncio.wait([job.step_done])
        run = job.run
        if run is not None and run.step > job.saved_step:
            try:  # on the training's own thread: the GPU thread may still be drawing
                await asyncio.get_running_loop().run_in_executor(self._training_setup, job.checkpoint)
                log.info("training of style %r: checkpoint at step %d", job.request.name, run.step)
            except Exception:
                log.exception("training of style %r: no checkpoint at shutdown", job.request.name)
        self._end_training(job, JobState.FAILED, ErrorCode.SHUTTING_DOWN)

    def interrupted_trainings(self) -> list[InterruptedTraining]:
        busy = {job_id for job_id, job in self._trainings.items() if not _interrupted(job)}
        found = (training.read_kept(self.settings, job_id) for job_id in training.kept_ids(self.settings))
        return [kept for kept in found if kept is not None and kept.id not in busy]

    async def resume_training(self, user: str, job_id: str, client: Mapping[str, str | int]) -> str:
        if self._closing:
            raise ShuttingDown("the engine is restarting")
        kept = next((kept for kept in self.interrupted_trainings() if kept.id == job_id), None)
        if kept is None:
            raise TrainingRefused(f"training {job_id}: its pictures are gone", ErrorCode.UNKNOWN_JOB)
        self.check_training(kept.name)
        job = training.resumed(kept, str(user), client, self.settings)
        self._training = self._trainings[job.id] = job
        log.info("training of style %r resumed at step %d of %d", kept.name, kept.step, kept.total_steps)
        self._wakeup.set()
        return job.id

    def forget_training(self, job_id: str) -> bool:
        if not any(kept.id == job_id for kept in self.interrupted_trainings()):
            return False
        shutil.rmtree(training.kept_folder(self.settings, job_id), ignore_errors=True)
        return True

    async def _turn_for_training(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Give the style being trained its next turn: a step on the GPU thread (awaited), or its set-up on a thread
        of its own (started). False when there is no turn to give."""
        job = self._training
        if job is None or job.turning or job.stop_reason == ErrorCode.SHUTTING_DOWN:
            return False
        job.turning = True
        if job.run is None:
            turn = self._training_turn(job, self._training_setup, loop)
            self._setting_up = asyncio.create_task(turn, name="easel-training-setup")
            return False  # the worker waits for drawings, or for the set-up to end
        await self._training_turn(job, self._executor, loop)
        return True

    async def _training_turn(
        self, job: training.TrainingJob, thread: ThreadPoolExecutor, loop: asyncio.AbstractEventLoop
    ) -> None:
        """One turn of the style being trained (`job.turning` is set): the set-up first (the model, the pictures),
        then a step a turn on the GPU thread, and after the last one the style written out (styles() shows it from
        then on)."""
        try:
            if job.run is None:
                self._set(job, state=JobState.RUNNING, step=0)
                await loop.run_in_executor(thread, job.begin, set(self.styles()))
                if not job.status.state.finished:  # (a shutdown during the set-up)
                    self._set(job, step=job.saved_step)
            else:
                job.step_done = loop.run_in_executor(thread, job.advance)
                self._set(job, step=await job.step_done)
                if job.status.step >= job.status.total_steps:
                    await loop.run_in_executor(thread, job.complete)
                    self._end_training(job, JobState.DONE)
        except BadImage as error:
            self._end_training(job, JobState.FAILED, error.code)
        except TrainingError as error:
            log.warning("training of style %r refused: %s", job.request.name, error)
            self._end_training(job, JobState.FAILED, ErrorCode.TRAINING_FAILED)
        except Exception:
            log.exception("training of style %r failed", job.request.name)
            self._end_training(job, JobState.FAILED, ErrorCode.TRAINING_FAILED)
        finally:
            job.turning, job.step_done = False, None
            if job.stop_reason == ErrorCode.CANCELLED and not job.status.state.finished:  # asked while it ran
                self._end_training(job, JobState.CANCELLED, job.stop_reason)  # (a shutdown's: _interrupt_training)
            if job.status.state.finished:  # ended in this turn, or meanwhile (a shutdown)
                self._drop(job)
            self._wakeup.set()  # a worker idle while the set-up ran

    def _cancel_training(self, job: training.TrainingJob) -> bool:
        if job.status.state.finished:
            return False
        if job.turning:  # its set-up or a step is running: the training ends right after it
            job.stop_reason = ErrorCode.CANCELLED
        else:
            self._end_training(job, JobState.CANCELLED, ErrorCode.CANCELLED)
        return True

    def _end_training(self, job: training.TrainingJob, state: JobState, error: ErrorCode | None = None) -> None:
        if job.status.state.finished:
            return
        job.finished_at = time.monotonic()
        self._set(job, state=state, error=error, position=0)
        if self._training is job:
            self._training = None
        log.info(
            "training of style %r %s: %d of %d steps in %.1f s, the process's peak memory %.0f MB",
            job.request.name,
            error or state,
            job.status.step,
            job.status.total_steps,
            job.finished_at - job.created,
            peak_rss_mb(),
        )
        if not job.turning:  # else the GPU thread is using the run: dropped when its turn ends
            self._drop(job)

    def _drop(self, job: training.TrainingJob) -> None:
        """A finished training's copy of the model and its files go."""
        if job.run is None and (_interrupted(job) or not job.folder.exists()):
            return
        job.discard(keep_files=_interrupted(job))
        if not self._closing:
            asyncio.get_running_loop().run_in_executor(self._executor, _free_memory)

    def stats(self) -> dict:
        """Counters for an operator (ImageService.stats)."""
        return {
            "waiting": len(self._queue),
            "running": len(self._running),
            **self.counters,
            "per_user_done": dict(self.per_user_done),
            "batching": dict(self.batching),
            "model": self.studio.models.name,
            "family": self.studio.models.family,
        }

    def health(self) -> dict:
        """This process's device memory (ImageService.health)."""
        return device_memory()

    # ---- the worker ---------------------------------------------------------------------------------
    def _running_of(self, user: str) -> int:
        return sum(1 for job in self._running.values() if job.user == user)

    def _eligible(self, user: str) -> bool:
        return self._running_of(user) < self.settings.max_running_per_user

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        idle = True
        while True:
            if not len(self._queue):
                idle = True
                if await self._turn_for_training(loop):  # nobody waits for a picture
                    continue
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if idle and self._worth_waiting():
                # Jobs that arrive together (several users at once) get a moment to join one batch.
                await asyncio.sleep(self.settings.batch_window_ms / 1000)
            idle = False
            batch = self._queue.pop(
                self._eligible,
                key=self._batch_key if self.settings.batch_max > 1 else None,
                limit=self.settings.batch_max,
                size=lambda job: job.size,
            )
            if not batch:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            for job in batch:
                job.peers = batch
                self._running[job.id] = job
                self._set(job, state=JobState.RUNNING, position=0)
                loop.call_later(self.settings.run_timeout_s, self._timeout, job)
            self._count_batch(batch)
            self._publish_positions()
            await self._run(batch, loop)

    def _batch_key(self, job: Job):
        return self.studio.batch_key(job.plan)

    def _worth_waiting(self) -> bool:
        """Whether an idle worker should hold the next job for the gather window before starting it.

        Only when someone could join: the head job can share a call, the batch is not full yet, and another
        user submitted lately. A lone user never pays the window (a job alone starts at once); under load
        the worker is busy and batches form from the line without any waiting.
        """
        s = self.settings
        if s.batch_max <= 1 or not s.batch_window_ms:
            return False
        heads: dict[str, Job] = {}  # the oldest job of each user who may run now, in turn order
        for job in self._queue.order(self._eligible):
            if self._eligible(job.user):
                heads.setdefault(job.user, job)
        head = next(iter(heads.values()), None)
        if head is None:
            return False
        key = self._batch_key(head)
        if key is None:
            return False
        if sum(job.size for job in heads.values() if self._batch_key(job) == key) >= s.batch_max:
            return False
        recent = time.monotonic() - ACTIVE_USER_S
        return any(user != head.user and at >= recent for user, at in self._last_submit.items())

    def _count_batch(self, batch: list[Job]) -> None:
        stats = self.batching
        stats["calls"] += 1
        stats["jobs"] += len(batch)
        stats["pictures"] += sum(job.size for job in batch)
        stats["largest"] = max(stats["largest"], len(batch))
        horizon = time.monotonic() - ACTIVE_USER_S
        for user in [user for user, at in self._last_submit.items() if at < horizon]:
            del self._last_submit[user]

    async def _run(self, batch: list[Job], loop: asyncio.AbstractEventLoop) -> None:
        """Render the batch on the GPU thread; each job's pictures are then encoded by an `_encode` task while
        the worker goes on. A job stays in `_running` until its files are ready (drain and per-user caps)."""
        encoding: list[Job] = []
        try:
            rendered = await self._run_with_retry(batch, loop)
        except Exception as error:
            code = error.code if isinstance(error, (JobFailed, OutOfMemoryFailure)) else ErrorCode.INTERNAL
            if code == ErrorCode.INTERNAL:
                log.exception("job(s) %s failed", [job.id for job in batch])
            for job in batch:
                self._end_stopped_or(job, JobState.FAILED, code)
        else:
            for job, (images, seconds) in zip(batch, rendered, strict=True):
                if job.stop.is_set():  # interrupted between steps: the pictures are unfinished
                    self._end_stopped_or(job, JobState.FAILED, ErrorCode.INTERNAL)
                    continue
                encoding.append(job)
                task = asyncio.create_task(self._encode(job, images, seconds, loop), name=f"easel-encode-{job.id}")
                self._encoding.add(task)
                task.add_done_callback(self._encoding.discard)
        finally:
            for job in batch:
                if job not in encoding:
                    self._running.pop(job.id, None)
            self._wakeup.set()

    async def _encode(self, job: Job, images: list, seconds: float, loop: asyncio.AbstractEventLoop) -> None:
        try:
            pictures = await asyncio.gather(
                *(
                    loop.run_in_executor(self._encoder, self.studio.encode, job.plan, image, seed)
                    for image, seed in zip(images, job.plan.seeds, strict=False)
                )
            )
            self._finish(job, JobState.DONE, result=self.studio.result(job.plan, list(pictures), seconds))
        except Exception:
            log.exception("job %s: encoding failed", job.id)
            self._finish(job, JobState.FAILED, error=ErrorCode.INTERNAL)
        finally:
            self._running.pop(job.id, None)
            self._wakeup.set()

    async def _run_with_retry(self, batch: list[Job], loop: asyncio.AbstractEventLoop) -> list[tuple[list, float]]:
        try:
            return await self._execute(batch, loop, low_memory=False)
        except OutOfMemory:
            log.warning("out of memory on %d job(s); retrying smaller", len(batch))
            await loop.run_in_executor(self._executor, _free_memory)
        # The retry: one job at a time, and each in low-memory mode (smaller batches, tiled VAE).
        rendered = []
        for job in batch:
            try:
                rendered += await self._execute([job], loop, low_memory=True)
            except OutOfMemory:
                await loop.run_in_executor(self._executor, _free_memory)
                raise OutOfMemoryFailure("out of memory twice") from None
        return rendered

    async def _execute(
        self, batch: list[Job], loop: asyncio.AbstractEventLoop, low_memory: bool
    ) -> list[tuple[list, float]]:
        """Each job's pictures (not yet encoded) and the seconds of the call."""
        last_report = 0.0

        def on_progress(step: int, total: int) -> None:
            # Each report wakes the event loop, whose thread then competes with this one for the GIL while
            # the pipeline's Python loop drives the device: a few reports a second, not one per step.
            nonlocal last_report
            now = time.monotonic()
            if 1 < step < total and now - last_report < PROGRESS_EVERY_S:
                return
            last_report = now
            loop.call_soon_threadsafe(self._progress, batch, step, total)

        # One call may serve several users: it stops only if all of them cancelled.
        hooks = Hooks(on_progress, lambda: all(job.stop.is_set() for job in batch), low_memory)
        hooks.latents = self._previews(batch, loop)
        plans = [job.plan for job in batch]
        images, seconds = await loop.run_in_executor(self._executor, self.studio.render, plans, hooks)
        return [(pictures, seconds) for pictures in images]

    def _previews(self, batch: list[Job], loop: asyncio.AbstractEventLoop) -> Callable | None:
        """The live-preview hook of a call, for the jobs that asked for one (None when none did): each such job's
        first picture, from the call's latents (the jobs' pictures in order), a few times while it is drawn."""
        first, offsets = 0, []
        for job in batch:
            offsets.append(first)
            first += len(job.plan.seeds)
        wanted = [(job, offset) for job, offset in zip(batch, offsets, strict=True) if job.plan.request.preview]
        if not wanted:
            return None
        clock = PreviewClock()

        def on_latents(step: int, total: int, latents: Any) -> None:
            if not clock.due(step, total) or getattr(latents, "ndim", 0) not in (3, 4):  # (B, C, H, W) / (B, N, C)
                return
            for job, offset in wanted:
                aspect = job.plan.width / max(job.plan.height, 1)
                if offset < latents.shape[0] and (jpeg := latent_preview(latents[offset], aspect)) is not None:
                    loop.call_soon_threadsafe(self._preview, job, jpeg)

        return on_latents

    def _preview(self, job: Job, jpeg: bytes) -> None:
        self._set(job, preview=jpeg)

    def _progress(self, batch: list[Job], step: int, total: int) -> None:
        for job in batch:
            self._set(job, step=step, total_steps=total)

    def _timeout(self, job: Job) -> None:
        if job.id in self._running and not job.status.state.finished:
            job.stop_reason = ErrorCode.RUN_TIMEOUT
            job.stop.set()

    async def _sweep(self) -> None:
        """Ends jobs that waited too long and forgets finished ones after a while; hourly, deletes the pictures
        of trainings interrupted and left for ENGINE_TRAINING_KEEP_DAYS."""
        swept = time.monotonic()
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            if now - swept > KEPT_SWEEP_S:
                swept = now
                training.sweep_kept(self.settings, busy=set(self._trainings))
            expired = [job for job in self._queue.order() if now - job.created > self.settings.wait_timeout_s]
            for job in expired:
                self._queue.remove(job)
                self._finish(job, JobState.FAILED, error=ErrorCode.WAIT_TIMEOUT)
            if expired:
                self._publish_positions()
            for job_id, trained in list(self._trainings.items()):
                if trained.status.state.finished and now - trained.finished_at > FINISHED_KEEP_S:
                    del self._trainings[job_id]
            for job_id, job in list(self._jobs.items()):
                if job.status.state.finished and now - job.created > FINISHED_KEEP_S:
                    del self._jobs[job_id]
                elif job.status.result is not None and now - job.finished_at > self._result_keep_s(job):
                    job.status, job.done = replace(job.status, result=None), None  # the pictures go

    @staticmethod
    def _result_keep_s(job: Job) -> float:
        return COLLECTED_KEEP_S if job.collected else RESULT_KEEP_S

    # ---- state changes and events -------------------------------------------------------------------
    def _end_stopped_or(self, job: Job, state: JobState, code: ErrorCode) -> None:
        """A job the user cancelled ends CANCELLED; one stopped by a timeout or shutdown names that."""
        if job.stop.is_set() and job.stop_reason == ErrorCode.CANCELLED:
            self._finish(job, JobState.CANCELLED, error=ErrorCode.CANCELLED)
        elif job.stop.is_set() and job.stop_reason is not None:
            self._finish(job, JobState.FAILED, error=job.stop_reason)
        else:
            self._finish(job, state, error=code)

    def _finish(self, job: Job, state: JobState, error: ErrorCode | None = None, result: JobResult | None = None):
        if job.status.state.finished:
            return
        job.finished_at = time.monotonic()
        self._set(job, state=state, error=error, result=result, position=0)
        key = {JobState.DONE: "done", JobState.FAILED: "failed", JobState.CANCELLED: "cancelled"}[state]
        self.counters[key] += 1
        if state == JobState.DONE:
            self.per_user_done[job.user] = self.per_user_done.get(job.user, 0) + 1
            # One line per job: operators see the load; the benchmark subtracts "in engine" from the bot's time.
            log.info(
                "job %s done: %d picture(s), %.3f s in engine, %.3f s in the pipeline call of %d job(s)",
                job.id,
                len(result.pictures) if result else 0,
                time.monotonic() - job.created,
                result.seconds if result else 0.0,
                len(job.peers),
            )
        if job.done is not None and not job.done.done():
            if state == JobState.DONE:
                job.done.set_result(result)
            elif state == JobState.CANCELLED:
                job.done.set_exception(JobCancelled("cancelled", error))
            else:
                job.done.set_exception(JobFailed(str(error), error))
            if state != JobState.DONE:
                job.done.exception()  # marks it retrieved: no "exception was never retrieved" noise

    def _set(self, job: Job | training.TrainingJob, **changes) -> None:
        if job.status.state.finished:
            return
        job.status = replace(job.status, **changes)
        for queue in job.listeners:
            queue.put_nowait(job.status)

    def _publish_positions(self) -> None:
        for job_id, place in self._queue.positions(self._eligible).items():
            job = self._jobs[job_id]
            if job.status.position != place:
                self._set(job, position=place)


class OutOfMemoryFailure(JobFailed):
    code = ErrorCode.OUT_OF_MEMORY


def _free_memory() -> None:
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _interrupted(job: training.TrainingJob) -> bool:
    """A training a shutdown stopped: its files stay for a resume."""
    return job.status.state.finished and job.status.error == ErrorCode.SHUTTING_DOWN
