"""The fleet's pure parts, without Redis: what crosses the wire comes back equal, the fleet's line is ordered as
one machine's FairQueue, jobs carry the needs that route them, and the settings a fleet adds are checked."""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import ValidationError

from engine.api import ImageRequest, JobResult, Mode, Origin, Picture
from engine.fleet.client import batch_hint, fair_order, needs
from engine.fleet.wire import part_names, request_fields, request_from, result_from, result_meta, result_parts
from engine.queue import FairQueue
from engine.settings import EngineSettings


def as_stored(fields: dict) -> dict[bytes, bytes]:
    """What redis-py gives back for a hash written with `fields`."""
    return {k.encode(): v.encode() if isinstance(v, str) else v for k, v in fields.items()}


def test_a_request_with_pictures_and_an_origin_crosses_redis_unchanged():
    request = ImageRequest(
        mode=Mode.MIX,
        prompt="a cozy морning",
        style="anime",
        images=(b"\x89PNG first", b"\xff\xd8 second"),
        weights=(0.3, 0.7),
        seed=42,
        origin=Origin("abc123", 2, 77),
    )
    assert request_from(as_stored(request_fields(request))) == request


def test_every_bytes_field_of_a_request_travels_raw():
    """Fields added to ImageRequest later (a mask...) need no change here: bytes go raw, the rest as JSON."""
    request = ImageRequest(prompt="x", images=(b"\x89PNG",))
    for name in ("mask",):
        if hasattr(request, name):
            request = dataclasses.replace(request, **{name: b"\x89PNG mask"})
    fields = request_fields(request)
    assert request_from(as_stored(fields)) == request
    assert all(isinstance(value, bytes) for name, value in fields.items() if name != "meta")


def test_a_result_crosses_the_fleet_unchanged_its_files_apart_from_its_record():
    pictures = tuple(Picture(bytes([n]) * 1000, b"jpeg" * n, 7 + n, 128, 96, "png") for n in range(3))
    result = JobResult(pictures, "fox", "a fox, styled", "blurry", "none", "tiny", 2, 0.5)
    meta, parts = result_meta(result), result_parts(result)
    assert parts["png1"] == pictures[1].png and parts["preview2"] == pictures[2].preview
    assert len(meta) < 1000, "the record holds no picture bytes: those go to the picture store"
    assert part_names(meta.encode()) == list(parts)
    assert result_from(meta.encode(), parts) == result


@dataclass
class Job:
    id: str
    user: str


def test_the_fleets_line_is_in_the_order_one_machines_fair_queue_runs_it():
    rng = random.Random(3)
    queue: FairQueue[Job] = FairQueue()
    for n in range(40):
        queue.push(Job(f"j{n}", f"u{rng.randrange(6)}"))
    running = {f"u{n}": rng.randrange(2) for n in range(6)}
    line = [(user, running[user], [job.id for job in jobs]) for user, jobs in queue._lines.items()]
    expected = [job.id for job in queue.order(lambda user: running[user] < 1)]
    assert fair_order(line, running_cap=1) == expected


def test_a_job_needs_its_mode_and_the_llm_only_when_improved():
    assert needs(ImageRequest(prompt="x")) == ["mode:generate"]
    assert needs(ImageRequest(prompt="x", beautify=True)) == ["mode:generate", "llm"]
    assert needs(ImageRequest(mode=Mode.UPSCALE, images=(b"x",), count=1)) == ["mode:upscale"]


def test_only_text_jobs_with_equal_shape_share_a_batch_hint():
    a, b = ImageRequest(prompt="a", aspect="16:9"), ImageRequest(prompt="b", aspect="16:9")
    assert batch_hint(a, "none") == batch_hint(b, "none") != ""
    assert batch_hint(ImageRequest(prompt="c", aspect="1:1"), "none") != batch_hint(a, "none")
    assert batch_hint(ImageRequest(mode=Mode.VARY, images=(b"x",)), "none") == ""


def test_a_worker_names_its_gpu_and_the_fleet_bounds_the_visibility_timeout():
    assert EngineSettings(device="cuda:3").device == "cuda:3"
    for wrong in ("gpu", "cuda:x", "cuda:"):
        with pytest.raises(ValidationError):
            EngineSettings(device=wrong)
    with pytest.raises(ValidationError):
        EngineSettings(fleet_visibility_s=61)  # a dead worker's job waits at most a minute
    assert EngineSettings().backend == "local"


def test_the_redis_backend_without_a_redis_url_says_so_at_start(monkeypatch):
    from bot.app import image_service
    from bot.config import Settings, StartupError

    monkeypatch.setenv("ENGINE_BACKEND", "redis")
    settings = Settings(bot_token="1:x", redis_url="")
    with pytest.raises(StartupError, match="REDIS_URL"):
        image_service(settings)


def test_the_worker_command_without_a_redis_url_says_what_to_set():
    """`python -m engine.worker` is the contract name; it needs REDIS_URL before anything is loaded."""
    import os
    import subprocess
    import sys

    from engine.fleet.worker import WorkerSettings

    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "REDIS_URL": ""}  # empty wins over a developer's .env
    done = subprocess.run([sys.executable, "-m", "engine.worker"], env=env, capture_output=True, text=True, cwd=repo)
    assert WorkerSettings.model_fields["redis_url"].is_required()
    assert done.returncode == 2, done.stderr
    assert "REDIS_URL" in done.stderr


def test_the_store_setting_takes_redis_a_folder_or_a_bucket():
    for good in ("redis", "dir:/mnt/easel", "s3://easel-pictures", "s3://easel.pictures/fleet/a"):
        assert EngineSettings(fleet_store=good).fleet_store == good
    for wrong in ("dir:relative", "s3://", "s3://UPPER", "ftp://host/x", "folder"):
        with pytest.raises(ValidationError):
            EngineSettings(fleet_store=wrong)


def test_a_worker_whose_picture_store_cannot_be_used_says_so_and_exits(tmp_path: Path):
    """Checked before the models load: a second, not a minute of loading, to learn the folder is wrong."""
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    (tmp_path / "a-file").write_text("not a folder")
    env = {**os.environ, "REDIS_URL": "redis://127.0.0.1:1/0", "ENGINE_FLEET_STORE": f"dir:{tmp_path}/a-file/x"}
    done = subprocess.run([sys.executable, "-m", "engine.worker"], env=env, capture_output=True, text=True, cwd=repo)
    assert done.returncode == 2, done.stderr
    assert f"ENGINE_FLEET_STORE=dir:{tmp_path}/a-file/x" in done.stderr
