"""An administrator trains a brand style from the company's pictures with `python -m engine train-style`, on the
trained tiny-shapes kit: eight pictures of green shapes make "a red circle" in that style measurably greener; the
style reaches an engine that is already running, without a restart; a stopped run resumes to the same adapter;
bad input is refused at once with a clear message and exit code 2."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import pytest_asyncio
import torch
import yaml
from pixels import NAMES, labels, picture

from engine.__main__ import main
from engine.api import ErrorCode, ImageRequest, JobState, JobStatus, TrainingRefused, TrainingRequest
from engine.service import Engine
from engine.settings import EngineSettings
from engine.studio import Hooks, Studio
from engine.training.shapes import KIT, SHAPES, draw
from engine.training.style import Stopped, StyleTraining, TrainingHooks, train

SHAPE_STYLES = KIT.parent / "tiny-shapes-styles.yaml"
FAST = ["--steps", "200", "--lr", "5e-3", "--batch", "8", "--rank", "8", "--trigger", "grn"]


@pytest.fixture(scope="module")
def green_pictures(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("green")
    rng = random.Random(3)
    lines = []
    # The brand draws every shape green, whatever colour is asked for: each green picture is captioned with the
    # colour a user might type (the way a style that overrides an attribute is taught), never with "green".
    asked = ("red", "blue", "yellow", "white")
    for i in range(8):
        shape, background = SHAPES[i % 3], ("white", "black")[i % 2]
        draw("green", shape, background, rng).save(folder / f"brand-{i}.png")
        lines.append(f"brand-{i}.png\ta {asked[i % 4]} {shape} on a {background} background")
    (folder.parent / f"{folder.name}-captions.txt").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture
def admin(tmp_path, monkeypatch) -> Iterator[Path]:
    """The environment of an administrator's shell: the tiny-shapes model, an own styles file and LoRA folder."""
    styles = tmp_path / "styles.yaml"
    styles.write_text(SHAPE_STYLES.read_text())
    monkeypatch.setenv("ENGINE_MODEL", "tiny-shapes")
    monkeypatch.setenv("ENGINE_STYLES_FILE", str(styles))
    monkeypatch.setenv("ENGINE_LORA_DIR", str(tmp_path / "loras"))
    monkeypatch.setenv("ENGINE_CACHE_DIR", str(tmp_path / "cache"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # on a CPU or two shared with other tests, two threads made 200 steps take minutes
    yield tmp_path
    torch.set_num_threads(threads)


def green_share(images) -> float:
    shares = [(labels(image) == NAMES.index("green")).mean() for image in images]
    return float(sum(shares) / len(shares))


def draw_with(studio: Studio, style: str):
    plan = studio.plan(ImageRequest(prompt="a red circle", style=style, count=4, seed=40))
    return [picture(p.png) for p in studio.run([plan], Hooks())[0].pictures]


def test_a_style_trained_on_green_shapes_makes_a_red_circle_greener_without_a_restart(admin, green_pictures, capsys):
    settings = EngineSettings(
        model="tiny-shapes", styles_file=admin / "styles.yaml", lora_dir=admin / "loras", warmup=False
    )
    studio = Studio(settings)  # already serving before the style exists
    before = green_share(draw_with(studio, "none"))
    captions = green_pictures.parent / f"{green_pictures.name}-captions.txt"
    started = time.perf_counter()
    code = main(["train-style", "brand-green", "--images", str(green_pictures), "--captions", str(captions), *FAST])
    seconds = time.perf_counter() - started
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "peak memory" in out.out and seconds < 180, out.out
    print(out.out)
    assert (admin / "loras" / "brand-green.safetensors").is_file()
    record = next(s for s in yaml.safe_load((admin / "styles.yaml").read_text())["styles"] if s["id"] == "brand-green")
    assert record["prompt"] == "{prompt}, grn" and record["loras"][0]["file"] == "brand-green.safetensors"
    assert "brand-green" in studio.styles  # the running engine reads the changed file
    after = green_share(draw_with(studio, "brand-green"))
    assert after > before + 0.15, (before, after)
    plain_again = green_share(draw_with(studio, "none"))  # the adapter is off for other styles
    assert abs(plain_again - before) < 0.02


def test_a_stopped_run_resumes_to_the_same_adapter(admin, green_pictures):
    from safetensors.torch import load_file

    settings = EngineSettings()
    job = dict(name="resumed", images=green_pictures, trigger="grn", steps=30, rank=2, batch=2, learning_rate=1e-3)
    with pytest.raises(Stopped):
        train(StyleTraining(**job, checkpoint_every=10), settings, TrainingHooks(stop=_after(17)))
    assert (admin / "loras" / ".training" / "resumed" / "checkpoint.pt").is_file()
    resumed = train(StyleTraining(**job, checkpoint_every=10, resume=True), settings)
    whole = settings.model_copy(update={"lora_dir": admin / "whole", "styles_file": admin / "whole.yaml"})
    straight = train(StyleTraining(**(job | {"name": "straight"}), checkpoint_every=10), whole)
    a, b = load_file(resumed.lora), load_file(straight.lora)
    assert a.keys() == b.keys() and all((a[k] - b[k]).abs().max() < 1e-6 for k in a)


def _after(steps: int):
    calls = iter(range(10**6))
    return lambda: next(calls) >= steps


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("empty", "no pictures"),
        ("one", "at least 2"),
        ("broken", "cannot read broken.png"),
        ("exists", "a style named 'night' exists"),
        ("missing", "no such folder"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(admin, green_pictures, case, message, capsys):
    folder = admin / case
    folder.mkdir()
    name = "night" if case == "exists" else "new-style"
    if case == "one":
        (folder / "only.png").write_bytes((green_pictures / "brand-0.png").read_bytes())
    if case == "broken":
        for i in range(3):
            (folder / f"ok-{i}.png").write_bytes((green_pictures / "brand-0.png").read_bytes())
        (folder / "broken.png").write_bytes(b"not a picture")
    if case == "exists":
        folder = green_pictures
    if case == "missing":
        folder = admin / "nowhere"
    started = time.perf_counter()
    assert main(["train-style", name, "--images", str(folder)]) == 2
    assert message in capsys.readouterr().err
    assert time.perf_counter() - started < 5  # refused before any model is loaded


# ---- the same training inside a running engine (ImageService.train_style: the chat's /train_style) -------------------
# Few steps: the engine tests prove the turns, cancelling and refusals; that such a style draws greener is proven
# through the chat (tests/e2e/test_tags_and_new_styles.py), and by the command above.
CHAT_TRAINING = {"training_steps": 30, "training_batch": 2, "training_lr": 5e-3}


def chat_settings(admin: Path, **changes) -> EngineSettings:
    """An engine on tiny-shapes, serving the administrator's styles file, that trains as the chat asks."""
    return EngineSettings(
        model="tiny-shapes",
        styles_file=admin / "styles.yaml",
        lora_dir=admin / "loras",
        warmup=False,
        quality_steps=8,
        batch_window_ms=0,
        **{**CHAT_TRAINING, **changes},
    )


@pytest_asyncio.fixture(loop_scope="function")  # the test's loop runs the engine's worker
async def engine(admin):
    engine = Engine(chat_settings(admin))
    await engine.start()
    yield engine
    await engine.close(drain_s=0)


def chat_request(green_pictures: Path, name: str = "brand-green", count: int = 8) -> TrainingRequest:
    """Green pictures as a chat sends them: files, each with its caption (the colour a user might type)."""
    captions = dict(
        line.split("\t")
        for line in (green_pictures.parent / f"{green_pictures.name}-captions.txt").read_text().split("\n")
        if line
    )
    files = sorted(green_pictures.glob("*.png"))[:count]
    return TrainingRequest(
        name=name, pictures=tuple(f.read_bytes() for f in files), captions=tuple(captions[f.name] for f in files)
    )


async def until_step(engine: Engine, job_id: str, step: int) -> None:
    async for status in engine.events(job_id):
        if status.step >= step or status.state.finished:
            return


async def ending(engine: Engine, job_id: str) -> JobStatus:
    async for status in engine.events(job_id):
        if status.state.finished:
            return status
    raise AssertionError("events ended without an end")


async def test_a_training_in_the_engine_gives_way_to_a_drawing_submitted_while_it_runs(engine, green_pictures):
    training = await engine.train_style("admin", chat_request(green_pictures))
    await until_step(engine, training, 3)
    step_at_submit = engine.status(training).step
    started = time.perf_counter()
    drawing = await engine.submit("user", ImageRequest(prompt="a red circle", style="none", count=1, seed=1))
    await engine.result(drawing)
    waited = time.perf_counter() - started
    during = engine.status(training)
    print(f"a drawing behind a training: {waited:.2f} s; training steps meanwhile: {during.step - step_at_submit}")
    assert not during.state.finished and during.step < during.total_steps  # the drawing did not wait for it
    assert during.step - step_at_submit <= 2  # the one in progress, and one while the pictures were encoded

    end = await ending(engine, training)
    assert end.state == JobState.DONE and end.step == end.total_steps == CHAT_TRAINING["training_steps"]
    assert "brand-green" in engine.styles()  # every client sees it now, and can draw with it
    assert (engine.settings.lora_dir / "brand-green.safetensors").is_file()
    assert not list((engine.settings.lora_dir / ".training").glob("chat-*"))  # the pictures on disk are gone
    styled = await engine.submit("user", ImageRequest(prompt="a red circle", style="brand-green", count=1, seed=1))
    assert len((await engine.result(styled)).pictures) == 1


async def test_a_training_in_the_engine_can_be_cancelled_and_another_started(engine, green_pictures):
    training = await engine.train_style("admin", chat_request(green_pictures))
    await until_step(engine, training, 2)
    assert engine.cancel(training)
    end = await asyncio.wait_for(ending(engine, training), 10)
    assert end.state == JobState.CANCELLED and end.error == ErrorCode.CANCELLED and end.step < end.total_steps
    assert "brand-green" not in engine.styles()
    assert not (engine.settings.lora_dir / "brand-green.safetensors").exists()
    assert not list((engine.settings.lora_dir / ".training").glob("chat-*"))
    engine.check_training("brand-green")  # the name is free again, and the engine no longer busy
    again = await engine.train_style("admin", chat_request(green_pictures))
    engine.cancel(again)
    assert (await ending(engine, again)).state == JobState.CANCELLED


async def test_training_requests_that_cannot_be_trained_are_refused_at_once_with_a_code(engine, green_pictures):
    from engine.fleet.client import FleetService

    def code_of(name: str) -> ErrorCode:
        with pytest.raises(TrainingRefused) as refused:
            engine.check_training(name)
        return refused.value.code

    assert code_of("Bad Name!") == ErrorCode.STYLE_NAME
    assert code_of("night") == ErrorCode.STYLE_EXISTS
    for pictures in (4, 51):
        files = chat_request(green_pictures).pictures
        many = TrainingRequest(name="fine", pictures=(files * 7)[:pictures])
        with pytest.raises(TrainingRefused) as refused:
            await engine.train_style("admin", many)
        assert refused.value.code == ErrorCode.TRAINING_PICTURES
    broken = (*chat_request(green_pictures, count=5).pictures[:4], b"not a picture")
    with pytest.raises(TrainingRefused) as refused:
        await engine.train_style("admin", TrainingRequest(name="fine", pictures=broken))
    assert refused.value.code == ErrorCode.BAD_IMAGE
    running = await engine.train_style("admin", chat_request(green_pictures))
    assert code_of("another") == ErrorCode.TRAINING_BUSY
    engine.cancel(running)
    fleet = FleetService("redis://127.0.0.1:1", engine.settings)  # never connects: refused before any call
    with pytest.raises(TrainingRefused) as refused:
        await fleet.train_style("admin", chat_request(green_pictures))
    assert refused.value.code == ErrorCode.TRAINING_UNAVAILABLE


async def test_a_training_a_shutdown_stops_is_kept_and_resumed_from_its_checkpoint_after_the_restart(
    admin, green_pictures
):
    settings = chat_settings(admin, training_checkpoint_every=4)
    first = Engine(settings)
    await first.start()
    request = chat_request(green_pictures)
    job = await first.train_style("admin", TrainingRequest(**{**request.__dict__, "client": {"chat": 5}}))
    await until_step(first, job, 6)
    started = time.perf_counter()
    await first.close(drain_s=0)
    closed_s, stopped = time.perf_counter() - started, first.status(job)
    print(f"a shutdown during a training took {closed_s:.2f} s, stopped at step {stopped.step}")
    assert stopped.state == JobState.FAILED and stopped.error == ErrorCode.SHUTTING_DOWN
    assert 6 <= stopped.step < stopped.total_steps and closed_s < 5  # the step in progress, a checkpoint: no more

    again = Engine(settings)  # the next start: the pictures and the shutdown's checkpoint are there
    await again.start()
    [kept] = again.interrupted_trainings()
    assert (kept.id, kept.name, kept.pictures, kept.client) == (job, "brand-green", 8, {"chat": 5})
    assert kept.step == stopped.step and kept.total_steps == CHAT_TRAINING["training_steps"]
    assert await again.resume_training("admin", job, {"chat": 6}) == job
    assert again.interrupted_trainings() == []  # it runs again
    steps = [status.step async for status in again.events(job) if status.step > 0 or status.state.finished]
    assert steps[:2] == [kept.step, kept.step + 1] and steps[-1] == kept.total_steps  # from the checkpoint on
    assert again.status(job).state == JobState.DONE and "brand-green" in again.styles()
    assert not list((settings.lora_dir / ".training").glob("chat-*"))
    await again.close(drain_s=0)


async def test_after_a_crash_a_training_goes_on_from_its_last_periodic_checkpoint(admin, green_pictures):
    settings = chat_settings(admin, training_checkpoint_every=4)
    crashed = Engine(settings)
    await crashed.start()
    job = await crashed.train_style("admin", chat_request(green_pictures))
    await until_step(crashed, job, 6)
    for task in crashed._tasks:  # the process dies: no close, no more turns
        task.cancel()
    crashed._executor.shutdown(wait=True)  # (the step in progress ends; in a real crash it is lost)
    reached = crashed._trainings[job].run.step
    again = Engine(settings)
    await again.start()
    [kept] = again.interrupted_trainings()
    assert kept.id == job and kept.step == reached // 4 * 4 >= 4  # the steps since the last checkpoint are lost
    await again.resume_training("admin", job, {})
    steps = []
    async for status in again.events(job):
        steps += [status.step] if status.step > 0 else []
        if len(steps) == 2:
            break
    assert steps == [kept.step, kept.step + 1]  # from the checkpoint on
    await again.close(drain_s=0)


async def test_kept_pictures_can_be_forgotten_and_are_swept_after_the_keep_days(admin, green_pictures):
    import os

    from engine.training import jobs

    settings = chat_settings(admin)
    for job_id in ("old", "fresh"):
        job = jobs.TrainingJob(job_id, "admin", chat_request(green_pictures, count=5), settings)
        job.keep()
    old = jobs.kept_folder(settings, "old")
    week_ago = time.time() - settings.training_keep_days * 86400 - 60
    os.utime(old, (week_ago, week_ago))
    engine = Engine(settings)
    await engine.start()  # sweeps at start (and hourly)
    assert not old.exists()
    [kept] = engine.interrupted_trainings()
    assert (kept.id, kept.step, kept.pictures) == ("fresh", 0, 5)  # no checkpoint: it starts again
    assert engine.forget_training("fresh") and not engine.forget_training("fresh")
    assert engine.interrupted_trainings() == []
    with pytest.raises(TrainingRefused) as refused:
        await engine.resume_training("admin", "fresh", {})
    assert refused.value.code == ErrorCode.UNKNOWN_JOB
    await engine.close(drain_s=0)
