"""Micro-batching across users: several people's compatible jobs run as one pipeline call, and each person
gets exactly the pictures they would have got alone (their prompts, their seeds, the same pixels)."""

from __future__ import annotations

import asyncio
import io
import time

import numpy as np
import pytest
from PIL import Image

from engine import modes
from engine.api import ImageRequest, JobCancelled, JobState, Mode
from engine.images import read_parameters
from engine.service import Engine
from engine.settings import EngineSettings
from engine.studio import Hooks, Studio

USERS = ("anna", "boris", "chen", "dina")


@pytest.fixture(scope="module")
def studio(engine_cache, tmp_path_factory) -> Studio:
    # Two extra styles with the kit's LoRA at different strengths: jobs in them must never share a call.
    styles = tmp_path_factory.mktemp("styles") / "styles.yaml"
    lora = engine_cache / "tiny-kit" / "loras" / "tiny_style.safetensors"
    styles.write_text(
        "styles:\n"
        f"  - {{id: ink, prompt: 'ink drawing of {{prompt}}', loras: [{{file: '{lora}', strength: 0.5}}]}}\n"
        f"  - {{id: bold-ink, prompt: 'bold ink of {{prompt}}', loras: [{{file: '{lora}', strength: 1.0}}]}}\n"
    )
    settings = EngineSettings(model="tiny", cache_dir=engine_cache, quality_steps=2, warmup=False, styles_file=styles)
    return Studio(settings)


@pytest.fixture
def calls(monkeypatch) -> list[list[str]]:
    """The prompts of every pipeline call the worker makes, one list per call."""
    seen: list[list[str]] = []
    real = modes.RUNNERS[Mode.GENERATE]

    def counting(studio, plans, hooks):
        seen.append([plan.request.prompt for plan in plans])
        return real(studio, plans, hooks)

    monkeypatch.setitem(modes.RUNNERS, Mode.GENERATE, counting)
    return seen


async def started(studio: Studio, **overrides) -> Engine:
    settings = studio.settings.model_copy(
        update={"batch_max": 4, "batch_window_ms": 50, "max_waiting_per_user": 8, "max_queue": 50, **overrides}
    )
    engine = Engine(settings, studio=studio)
    await engine.start()
    return engine


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png))).astype(int)


def alone(studio: Studio, request: ImageRequest) -> list[np.ndarray]:
    """The pictures of a request run on its own, outside any engine (same studio, same weights)."""
    result = studio.run([studio.plan(request)], Hooks())[0]
    return [pixels(picture.png) for picture in result.pictures]


async def submit_all(engine: Engine, jobs: list[tuple[str, ImageRequest]]) -> list[str]:
    """Everyone submits in the same instant (before the worker gets a turn)."""
    return list(await asyncio.gather(*(engine.submit(user, request) for user, request in jobs)))


async def test_four_users_at_once_share_one_call_and_each_gets_exactly_their_own_pictures(studio, calls):
    requests = [ImageRequest(prompt=f"a fox painted by {user}", count=1, seed=100 + i) for i, user in enumerate(USERS)]
    expected = [alone(studio, request) for request in requests]
    calls.clear()
    engine = await started(studio)
    try:
        job_ids = await submit_all(engine, list(zip(USERS, requests, strict=True)))
        results = [await engine.result(job_id) for job_id in job_ids]
    finally:
        await engine.close(drain_s=0)
    assert len(calls) == 1 and sorted(calls[0]) == sorted(r.prompt for r in requests)
    assert engine.stats()["batching"] == {"calls": 1, "jobs": 4, "pictures": 4, "largest": 4}
    for request, result, mine in zip(requests, results, expected, strict=True):
        (picture,) = result.pictures
        params = read_parameters(picture.png)
        assert picture.seed == params["seed"] == request.seed
        assert params["user_prompt"] == result.prompt == request.prompt
        assert np.abs(pixels(picture.png) - mine[0]).max() <= 1


async def test_jobs_of_several_pictures_are_batched_by_picture_count_and_keep_their_seeds(studio, calls):
    jobs = [("anna", ImageRequest(prompt="a red fox", count=2, seed=7)),
            ("boris", ImageRequest(prompt="a blue whale", count=1, seed=7)),
            ("chen", ImageRequest(prompt="a green frog", count=1, seed=40)),
            ("dina", ImageRequest(prompt="a grey owl", count=2, seed=9))]  # fmt: skip
    expected = [alone(studio, request) for _, request in jobs]
    calls.clear()
    engine = await started(studio)  # batch_max 4 pictures: anna+boris+chen, then dina
    try:
        results = [await engine.result(job_id) for job_id in await submit_all(engine, jobs)]
    finally:
        await engine.close(drain_s=0)
    assert [len(call) for call in calls] == [3, 1]
    for (_, request), result, mine in zip(jobs, results, expected, strict=True):
        assert [p.seed for p in result.pictures] == [request.seed + i for i in range(request.count)]
        for picture, reference in zip(result.pictures, mine, strict=True):
            assert np.abs(pixels(picture.png) - reference).max() <= 1


async def test_incompatible_jobs_never_share_a_call(studio, calls):
    base = {"prompt": "a lighthouse", "count": 1, "seed": 3}
    jobs = [
        ("anna", ImageRequest(**base)),
        ("boris", ImageRequest(**base, aspect="16:9")),  # another size
        ("chen", ImageRequest(**base, steps=3)),  # other steps
        ("dina", ImageRequest(**base, style="ink")),  # a LoRA style
        ("emil", ImageRequest(**base, style="bold-ink")),  # the same LoRA, another strength
        ("fedor", ImageRequest(**base, profile="fast")),  # another profile (guidance)
        ("galya", ImageRequest(**base, style="ink")),  # joins dina
        ("hugo", ImageRequest(**base, style="photo")),
    ]  # a template-only style joins anna
    calls.clear()
    engine = await started(studio, batch_max=8)
    try:
        for job_id in await submit_all(engine, jobs):
            await engine.result(job_id)
    finally:
        await engine.close(drain_s=0)
    assert sorted(len(call) for call in calls) == [1, 1, 1, 1, 2, 2]
    assert [call for call in calls if len(call) == 2] == [["a lighthouse"] * 2] * 2
    assert engine.stats()["batching"]["largest"] == 2


async def test_a_light_user_is_not_held_back_by_a_heavy_user_with_batching_on(studio, calls):
    engine = await started(studio, batch_max=2)
    try:
        heavy = [await engine.submit("heavy", ImageRequest(prompt=f"heavy {i}", count=1, seed=i)) for i in range(4)]
        light = [await engine.submit(user, ImageRequest(prompt=user, count=1, seed=1)) for user in USERS[:3]]
        finished: list[str] = []

        async def watch(job_id: str) -> None:
            await engine.result(job_id)
            finished.append(job_id)

        await asyncio.gather(*(watch(job_id) for job_id in heavy + light))
    finally:
        await engine.close(drain_s=0)
    # One heavy job per call at most, and every light job done before heavy's second one.
    assert all(sum(prompt.startswith("heavy") for prompt in call) <= 1 for call in calls)
    assert max(finished.index(job_id) for job_id in light) < finished.index(heavy[1])
    assert [job_id for job_id in finished if job_id in heavy] == heavy


async def test_cancelling_one_batched_job_ends_it_at_once_and_the_others_get_their_pictures(studio, calls):
    jobs = [(user, ImageRequest(prompt=f"a castle for {user}", count=1, seed=5, steps=60)) for user in USERS]
    engine = await started(studio)
    try:
        job_ids = await submit_all(engine, jobs)
        async for status in engine.events(job_ids[1]):
            if status.state == JobState.RUNNING and status.step >= 1:
                assert engine.cancel(job_ids[1])
                break
        with pytest.raises(JobCancelled):
            await engine.result(job_ids[1])
        assert engine.status(job_ids[0]).state == JobState.RUNNING  # told at once, while the call goes on
        others = [await engine.result(job_id) for job_id in (job_ids[0], *job_ids[2:])]
    finally:
        await engine.close(drain_s=0)
    assert len(calls) == 1 and all(len(result.pictures) == 1 for result in others)
    assert engine.status(job_ids[2]).step == 60  # not interrupted
    assert engine.stats()["cancelled"] == 1 and engine.stats()["done"] == 3


async def test_a_lone_user_never_waits_for_the_gather_window(studio, calls):
    engine = await started(studio, batch_window_ms=30_000)
    try:
        started_at = time.monotonic()
        await engine.result(await engine.submit("anna", ImageRequest(prompt="a fox", count=1, seed=1)))
        assert time.monotonic() - started_at < 15  # a 2-step tiny picture, however busy the machine
    finally:
        await engine.close(drain_s=0)


async def test_jobs_arriving_within_the_window_join_one_call_once_others_are_active(studio, calls):
    engine = await started(studio, batch_window_ms=2000)
    try:
        await engine.result(await engine.submit("boris", ImageRequest(prompt="first", count=1, seed=1)))
        calls.clear()
        first = await engine.submit("anna", ImageRequest(prompt="a fox", count=1, seed=1))
        await asyncio.sleep(0.2)  # boris is active: the idle worker holds anna's job for the window
        second = await engine.submit("boris", ImageRequest(prompt="an owl", count=1, seed=2))
        await engine.result(first)
        await engine.result(second)
    finally:
        await engine.close(drain_s=0)
    assert calls == [["a fox", "an owl"]]


async def test_with_batch_max_one_every_job_runs_alone(studio, calls):
    engine = await started(studio, batch_max=1)
    try:
        jobs = [(user, ImageRequest(prompt=user, count=1, seed=1)) for user in USERS]
        for job_id in await submit_all(engine, jobs):
            await engine.result(job_id)
    finally:
        await engine.close(drain_s=0)
    assert [len(call) for call in calls] == [1, 1, 1, 1]
