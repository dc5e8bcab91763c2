"""The engine's queue and worker with the real tiny studio: fairness, caps, cancellation, progress, faults."""

from __future__ import annotations

import asyncio

import pytest
import torch

from engine import modes
from engine.api import ErrorCode, ImageRequest, JobCancelled, JobFailed, JobState, Mode, QueueFull, ShuttingDown
from engine.health import device_memory
from engine.service import Engine
from engine.settings import EngineSettings
from engine.studio import Studio


@pytest.fixture(scope="module")
def studio(engine_cache) -> Studio:
    return Studio(EngineSettings(model="tiny", cache_dir=engine_cache, quality_steps=2, warmup=False))


async def started(studio: Studio, **overrides) -> Engine:
    settings = studio.settings.model_copy(update={"batch_max": 1, "batch_window_ms": 0, **overrides})
    engine = Engine(settings, studio=studio)
    await engine.start()
    return engine


def request(prompt: str = "a red fox", **fields) -> ImageRequest:
    return ImageRequest(prompt=prompt, count=1, seed=1, **fields)


async def until_running(engine: Engine, job_id: str) -> None:
    async for status in engine.events(job_id):
        if status.state == JobState.RUNNING:
            return


async def finished_order(engine: Engine, job_ids: list[str]) -> list[str]:
    order: list[str] = []

    async def watch(job_id: str) -> None:
        async for status in engine.events(job_id):
            if status.state.finished:
                order.append(job_id)

    await asyncio.gather(*(watch(job_id) for job_id in job_ids))
    return order


async def test_a_light_user_is_served_after_at_most_one_job_of_a_heavy_user(studio):
    engine = await started(studio, max_waiting_per_user=10, max_queue=50)
    try:
        heavy = [await engine.submit("heavy", request(f"heavy {i}")) for i in range(4)]
        light = await engine.submit("light", request("light"))
        order = await finished_order(engine, [*heavy, light])
        assert order.index(light) <= 2  # heavy's first job may already run, then at most one more
        assert [job for job in order if job in heavy] == heavy  # a user's own jobs stay in order
    finally:
        await engine.close(drain_s=0)


async def test_over_the_per_user_cap_the_refusal_is_typed_and_immediate(studio):
    engine = await started(studio, max_running_per_user=1, max_waiting_per_user=2)
    try:
        accepted = [await engine.submit("u", request()) for _ in range(3)]  # 1 running + 2 waiting
        with pytest.raises(QueueFull) as refused:
            await engine.submit("u", request())
        assert refused.value.code == ErrorCode.USER_QUEUE_FULL
        await engine.submit("someone else", request())  # others are not affected
        for job_id in accepted:
            await engine.result(job_id)
    finally:
        await engine.close(drain_s=0)


async def test_over_the_global_cap_the_refusal_names_the_queue(studio):
    engine = await started(studio, max_queue=2, max_waiting_per_user=5)
    try:
        await until_running(engine, await engine.submit("a", request(steps=20)))
        await engine.submit("b", request())
        await engine.submit("c", request())  # two waiting: the line is full
        with pytest.raises(QueueFull) as refused:
            await engine.submit("d", request())
        assert refused.value.code == ErrorCode.QUEUE_FULL
    finally:
        await engine.close(drain_s=0)


async def test_cancelling_a_waiting_job_removes_it_and_moves_others_up(studio):
    engine = await started(studio)
    try:
        first = await engine.submit("a", request(steps=10))
        await until_running(engine, first)
        second = await engine.submit("b", request())
        third = await engine.submit("c", request())
        assert engine.status(third).position == 2
        assert engine.cancel(second)
        with pytest.raises(JobCancelled):
            await engine.result(second)
        assert engine.status(second).state == JobState.CANCELLED
        assert engine.status(third).position == 1
        await engine.result(first)
        await engine.result(third)
    finally:
        await engine.close(drain_s=0)


async def test_cancelling_a_running_job_stops_it_between_steps(studio):
    engine = await started(studio)
    try:
        job_id = await engine.submit("a", request(steps=150))
        async for status in engine.events(job_id):
            if status.state == JobState.RUNNING and status.step >= 1:
                engine.cancel(job_id)
                break
        with pytest.raises(JobCancelled):
            await engine.result(job_id)
        status = engine.status(job_id)
        assert status.state == JobState.CANCELLED and status.step < 150
        follow_up = await engine.submit("a", request())  # the worker goes on serving
        assert (await engine.result(follow_up)).pictures
    finally:
        await engine.close(drain_s=0)


async def test_position_and_progress_events_arrive_in_order(studio):
    engine = await started(studio)
    try:
        await until_running(engine, await engine.submit("a", request(steps=4)))
        job_id = await engine.submit("b", request(steps=3))
        seen = [status async for status in engine.events(job_id)]
        states = [s.state for s in seen]
        assert states[0] == JobState.WAITING and seen[0].position == 1
        assert JobState.RUNNING in states and states[-1] == JobState.DONE
        steps = [s.step for s in seen if s.state == JobState.RUNNING and s.step]
        assert steps == sorted(steps) and steps[-1] == 3 and seen[-1].result is not None
    finally:
        await engine.close(drain_s=0)


async def test_a_failing_job_does_not_stop_the_worker(studio, monkeypatch):
    real = modes.RUNNERS[Mode.GENERATE]

    def explode_on_poison(studio, plans, hooks):
        if "poison" in plans[0].request.prompt:
            raise RuntimeError("a bug in a mode")
        return real(studio, plans, hooks)

    monkeypatch.setitem(modes.RUNNERS, Mode.GENERATE, explode_on_poison)
    engine = await started(studio)
    try:
        bad = await engine.submit("a", request("poison"))
        good = await engine.submit("b", request("fine"))
        with pytest.raises(JobFailed) as failed:
            await engine.result(bad)
        assert failed.value.code == ErrorCode.INTERNAL
        assert (await engine.result(good)).pictures
        assert engine.stats()["failed"] == 1 and engine.stats()["done"] == 1
    finally:
        await engine.close(drain_s=0)


async def test_an_operator_reads_the_counters_and_the_device_memory_from_the_service(studio):
    engine = await started(studio)
    try:
        await engine.result(await engine.submit("a", request()))
        stats, health = engine.stats(), engine.health()
        assert stats["done"] == 1 and stats["per_user_done"] == {"a": 1} and stats["waiting"] == 0
        assert set(health) == set(device_memory()) and health["peak_mb"] > 0
    finally:
        await engine.close(drain_s=0)


async def test_out_of_memory_is_retried_once_smaller(studio, monkeypatch):
    real = modes.RUNNERS[Mode.GENERATE]
    calls: list[bool] = []

    def out_of_memory_once(studio, plans, hooks):
        calls.append(hooks.low_memory)
        if not hooks.low_memory:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(studio, plans, hooks)

    monkeypatch.setitem(modes.RUNNERS, Mode.GENERATE, out_of_memory_once)
    engine = await started(studio)
    try:
        result = await engine.result(await engine.submit("a", request()))
        assert result.pictures and calls == [False, True]
    finally:
        await engine.close(drain_s=0)


async def test_out_of_memory_twice_fails_with_its_own_code_and_the_worker_goes_on(studio, monkeypatch):
    real = modes.RUNNERS[Mode.GENERATE]

    def always_out_of_memory(studio, plans, hooks):
        if "huge" in plans[0].request.prompt:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(studio, plans, hooks)

    monkeypatch.setitem(modes.RUNNERS, Mode.GENERATE, always_out_of_memory)
    engine = await started(studio)
    try:
        with pytest.raises(JobFailed) as failed:
            await engine.result(await engine.submit("a", request("huge")))
        assert failed.value.code == ErrorCode.OUT_OF_MEMORY
        assert (await engine.result(await engine.submit("a", request("small")))).pictures
    finally:
        await engine.close(drain_s=0)


async def test_a_job_running_too_long_ends_with_a_timeout(studio):
    engine = await started(studio, run_timeout_s=0.3)
    try:
        with pytest.raises(JobFailed) as failed:
            await engine.result(await engine.submit("a", request(steps=150)))
        assert failed.value.code == ErrorCode.RUN_TIMEOUT
    finally:
        await engine.close(drain_s=0)


async def test_a_job_waiting_too_long_ends_with_a_timeout(studio):
    engine = await started(studio, wait_timeout_s=0.5)
    try:
        await until_running(engine, await engine.submit("a", request(steps=150)))
        waiting = await engine.submit("b", request())
        with pytest.raises(JobFailed) as failed:
            await engine.result(waiting)
        assert failed.value.code == ErrorCode.WAIT_TIMEOUT
    finally:
        await engine.close(drain_s=0)


async def test_closing_refuses_new_jobs_and_lets_the_running_one_finish(studio):
    engine = await started(studio)
    running = await engine.submit("a", request(steps=6))
    await until_running(engine, running)
    waiting = await engine.submit("b", request())
    closing = asyncio.create_task(engine.close(drain_s=30))
    await asyncio.sleep(0)
    with pytest.raises(ShuttingDown):
        await engine.submit("c", request())
    await closing
    assert (await engine.result(running)).pictures
    assert engine.status(waiting).error == ErrorCode.SHUTTING_DOWN


async def test_the_gpu_thread_renders_the_next_job_while_the_last_ones_files_are_written(studio, monkeypatch):
    """PNG encoding runs on the encoder threads: a slow encode of one user's pictures does not hold the GPU."""
    import threading

    release = threading.Event()
    real_encode = studio.encode
    encoded_by: set[str] = set()

    def slow_for_alice(plan, image, seed):
        encoded_by.add(threading.current_thread().name)
        if plan.request.prompt == "alice":
            assert release.wait(30), "never released"
        return real_encode(plan, image, seed)

    monkeypatch.setattr(studio, "encode", slow_for_alice)
    engine = await started(studio)
    try:
        alice = await engine.submit("alice", request("alice"))
        bob = await engine.submit("bob", request("bob"))
        bob_result = await asyncio.wait_for(engine.result(bob), 20)  # while alice's encode is still blocked
        assert bob_result.pictures and engine.status(alice).state == JobState.RUNNING
        release.set()
        assert (await asyncio.wait_for(engine.result(alice), 60)).pictures
        assert encoded_by and all(name.startswith("easel-encode") for name in encoded_by)
    finally:
        release.set()
        await engine.close(drain_s=5)


async def test_close_waits_for_pictures_being_encoded(studio, monkeypatch):
    import threading
    import time

    real_encode = studio.encode
    encoding = threading.Event()

    def slow(plan, image, seed):
        encoding.set()
        time.sleep(0.5)
        return real_encode(plan, image, seed)

    monkeypatch.setattr(studio, "encode", slow)
    engine = await started(studio)
    job = await engine.submit("alice", request())
    assert await asyncio.to_thread(encoding.wait, 60)  # rendered; its file is being written
    await engine.close(drain_s=30)
    assert (await engine.result(job)).pictures


async def test_progress_is_reported_a_few_times_a_second_not_every_step(studio):
    """Each report wakes the event loop (and contends for the GIL with the pipeline's loop): the first step, the
    last, and at most one per PROGRESS_EVERY_S between them."""
    import time

    from engine.service import PROGRESS_EVERY_S

    engine = await started(studio)
    try:
        job_id = await engine.submit("a", request(steps=80))
        started_at = time.monotonic()
        steps = [s.step async for s in engine.events(job_id) if s.state == JobState.RUNNING and s.step]
        elapsed = time.monotonic() - started_at
        assert steps[0] == 1 and steps[-1] == 80 and steps == sorted(set(steps))
        assert len(steps) <= 2 + elapsed / PROGRESS_EVERY_S + 1, (len(steps), elapsed)
        assert len(steps) < 80
    finally:
        await engine.close(drain_s=0)


async def test_a_finished_jobs_pictures_leave_memory_once_its_client_has_them(studio, monkeypatch):
    import engine.service as service

    monkeypatch.setattr(service, "COLLECTED_KEEP_S", 0.0)
    monkeypatch.setattr(service, "RESULT_KEEP_S", 3.0)
    engine = await started(studio)
    try:
        collected = await engine.submit("a", request("collected"))
        final = [status async for status in engine.events(collected)][-1]
        assert final.result is not None and len(final.result.pictures) == 1, "the client got them"
        nobody = await engine.submit("b", request("never collected"))
        for _ in range(200):  # watched from outside: events would count as collecting it
            if engine.status(nobody).state.finished:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(2.2)  # two sweeps
        assert engine.status(collected).result is None and engine.status(collected).state == JobState.DONE
        assert engine.status(nobody).result is not None, "kept a while for a client that has not come yet"
        with pytest.raises(JobFailed):
            await engine.result(collected)
        await asyncio.sleep(2.0)
        assert engine.status(nobody).result is None
    finally:
        await engine.close()


async def test_without_a_captioning_model_describe_is_not_offered(studio):
    from engine.api import ModeUnavailable

    engine = await started(studio)
    try:
        assert not engine.can_describe()
        with pytest.raises(ModeUnavailable):
            await engine.describe(b"")
    finally:
        await engine.close()
