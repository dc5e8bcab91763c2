"""A brand style trained inside the running engine (ImageService.train_style, the chat's /train_style): a client's
pictures trained by engine/training/style.py, one step per turn of the engine's worker.

Low priority: engine/service.py gives a training a turn only while no drawing waits, and a turn is one step on the
GPU thread, so a user's picture submitted meanwhile waits at most for the step in progress. The training loads its
own copy of the model in the serving dtype (the serving pipeline stays as it is, with its styles' adapters) and
drops it at the end: on a GPU, memory for the model twice while a style is trained (the figures: README, "Brand
styles"; Qwen-Image's two bf16 copies, ≈ 100 GB, do not fit an 80 GB GPU).

A restart does not lose it. Its pictures are written to its folder (ENGINE_LORA_DIR/.training/chat-<id>/) when it
is accepted, with a record (training.json: the style, the client's note, the last checkpoint's step), and a
checkpoint every ENGINE_TRAINING_CHECKPOINT_EVERY steps; a graceful shutdown writes one more after the step in
progress. After the restart the folder is an interrupted training (ImageService.interrupted_trainings) until it is
resumed, forgotten, or ENGINE_TRAINING_KEEP_DAYS pass (`sweep_kept`).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import shutil
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from PIL import Image

from ..api import (
    STYLE_NAME_RULE,
    TRAINING_PICTURES,
    ErrorCode,
    InterruptedTraining,
    JobState,
    JobStatus,
    TrainingRefused,
    TrainingRequest,
    one_line,
)
from ..images import decode_image
from ..settings import EngineSettings
from . import style
from .trainers import FAMILIES as TRAINABLE_FAMILIES  # every family has a trainer (engine/training/trainers/)

log = logging.getLogger(__name__)
RECORD = "training.json"


def check(name: str, settings: EngineSettings, family: str, styles: Collection[str], busy: str | None) -> None:
    """Raise TrainingRefused if a style `name` cannot be trained now (`busy`: the style being trained, if any)."""
    if family not in TRAINABLE_FAMILIES:
        raise TrainingRefused(f"the {family} family cannot train styles", ErrorCode.TRAINING_UNAVAILABLE)
    if settings.styles_file is None:
        raise TrainingRefused("ENGINE_STYLES_FILE is not set", ErrorCode.TRAINING_UNAVAILABLE)
    if busy is not None:
        raise TrainingRefused(f"style {busy!r} is being trained", ErrorCode.TRAINING_BUSY)
    if not STYLE_NAME_RULE.match(name):
        raise TrainingRefused(f"style name {name!r}", ErrorCode.STYLE_NAME)
    if name in styles:
        raise TrainingRefused(f"a style named {name!r} exists", ErrorCode.STYLE_EXISTS)


def check_pictures(request: TrainingRequest) -> None:
    """The count, and that each file opens as a picture (its header: decoding waits for the worker)."""
    least, most = TRAINING_PICTURES
    if not least <= len(request.pictures) <= most:
        raise TrainingRefused(f"{len(request.pictures)} pictures", ErrorCode.TRAINING_PICTURES)
    for data in request.pictures:
        try:
            Image.open(io.BytesIO(data)).close()
        except Exception:
            raise TrainingRefused("a file that is not a picture", ErrorCode.BAD_IMAGE) from None


def kept_folder(settings: EngineSettings, job_id: str) -> Path:
    return settings.lora_dir / ".training" / f"chat-{job_id}"


@dataclass(eq=False)
class TrainingJob:
    """One training in the engine: its status and listeners (as a drawing job's), its pictures on disk, its run."""

    id: str
    user: str
    request: TrainingRequest
    settings: EngineSettings
    pictures: int = 0  # how many; default the request's (a resumed training's are on disk only)
    status: JobStatus = field(init=False)
    created: float = field(default_factory=time.monotonic)
    listeners: list[asyncio.Queue] = field(default_factory=list)
    collected: bool = False
    stop_reason: ErrorCode | None = None  # a stop was asked (cancel, shutdown): the worker ends it at its next look
    finished_at: float = 0.0
    turning: bool = False  # its turn is on the GPU thread now
    step_done: asyncio.Future | None = None  # the step on the GPU thread now, if any (a shutdown waits for it)
    run: style.Run | None = None
    saved_step: int = 0  # the last checkpoint's (the one a resume starts from)

    def __post_init__(self) -> None:
        self.pictures = self.pictures or len(self.request.pictures)
        self.status = JobStatus(self.id, self.user, JobState.WAITING, total_steps=self.settings.training_steps)

    @property
    def folder(self) -> Path:
        """Its pictures as files (and captions), its record and checkpoint; removed when it ends, kept when a
        restart interrupts it."""
        return kept_folder(self.settings, self.id)

    def plan(self) -> style.StyleTraining:
        s, name = self.settings, self.request.name
        return style.StyleTraining(
            name=name,
            images=self.folder,
            trigger=name,
            steps=s.training_steps,
            rank=s.training_rank,
            learning_rate=s.training_lr,
            batch=s.training_batch,
            resume=self.saved_step > 0,
            checkpoint=self.folder / "checkpoint.pt",
            checkpoint_every=s.training_steps,  # none by the trainer: advance() writes them, and records their step
            source=f"{self.pictures} pictures from a chat",
        )

    # ---- on a thread of its own (the set-up's), off the event loop ----------------------------------------------
    def keep(self) -> None:
        """The pictures decoded (the engine's bounds; raises BadImage) and written with their captions and the
        record, before the training is accepted: from then on a restart cannot lose them."""
        self.folder.mkdir(parents=True, exist_ok=True)
        captions = list(self.request.captions) + [""] * len(self.request.pictures)
        try:
            for n, data in enumerate(self.request.pictures):
                decode_image(data).save(self.folder / f"{n:03d}.png", compress_level=1)  # fast: read once
                if caption := one_line(captions[n]):
                    (self.folder / f"{n:03d}.txt").write_text(caption, encoding="utf-8")
        except BaseException:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise
        self.write_record()
        self.request = replace(self.request, pictures=())  # read from the folder from now on

    def write_record(self) -> None:
        s = self.settings
        record = {
            "id": self.id,
            "user": self.user,
            "name": self.request.name,
            "pictures": self.pictures,
            "step": self.saved_step,
            "steps": s.training_steps,
            "rank": s.training_rank,
            "client": dict(self.request.client),
        }
        partial = self.folder / f".{RECORD}.partial"
        partial.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
        os.replace(partial, self.folder / RECORD)

    # ---- on the GPU thread (begin: the set-up's) --------------------------------------------------------------
    def begin(self, existing: set[str]) -> None:
        """The run set up from the folder: the model loaded, the pictures encoded, the last checkpoint loaded if
        it is resumed. Raises TrainingError."""
        self.run = style.begin(self.plan(), self.settings, existing)

    def advance(self) -> int:
        """One step, and a checkpoint when one is due; the steps done so far."""
        assert self.run is not None
        style.advance(self.run)
        step = self.run.step
        if step % self.settings.training_checkpoint_every == 0 and step < self.run.job.steps:
            self.checkpoint()
        return step

    def checkpoint(self) -> None:
        """The run's state written (a resume continues from it) and its step recorded."""
        assert self.run is not None
        style.save_checkpoint(self.run)
        self.saved_step = self.run.step
        self.write_record()

    def complete(self) -> style.Outcome:
        """The adapter and the style record written (the styles file changes: every client sees the style)."""
        assert self.run is not None
        return style.complete(self.run, self.settings)

    def discard(self, keep_files: bool = False) -> None:
        """Drop the run (its copy of the model) and, unless a restart interrupted it, the files."""
        self.run = None
        if not keep_files:
            shutil.rmtree(self.folder, ignore_errors=True)


# ---- interrupted trainings, on disk ----------------------------------------------------------------------------
def read_kept(settings: EngineSettings, job_id: str) -> InterruptedTraining | None:
    """The interrupted training `job_id`, if its record and all its pictures are on disk."""
    folder = kept_folder(settings, job_id)
    try:
        record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
        pictures = int(record["pictures"])
        same = (record["steps"], record["rank"]) == (settings.training_steps, settings.training_rank)
        kept = InterruptedTraining(
            id=str(record["id"]),
            user=str(record["user"]),
            name=str(record["name"]),
            pictures=pictures,
            step=int(record["step"]) if same and (folder / "checkpoint.pt").is_file() else 0,
            total_steps=settings.training_steps,
            client=dict(record.get("client") or {}),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return kept if len(list(folder.glob("*.png"))) >= pictures and kept.id == job_id else None


def kept_ids(settings: EngineSettings) -> list[str]:
    """Ids of the trainings whose folders are on disk, oldest first."""
    root = settings.lora_dir / ".training"
    folders = sorted(root.glob("chat-*"), key=lambda folder: folder.stat().st_mtime) if root.is_dir() else []
    return [folder.name.removeprefix("chat-") for folder in folders if folder.is_dir()]


def resumed(
    kept: InterruptedTraining, user: str, client: Mapping[str, str | int], settings: EngineSettings
) -> TrainingJob:
    """The TrainingJob that continues `kept` (same id, same folder) for `user`, its client's note renewed."""
    request = TrainingRequest(name=kept.name, pictures=(), client=dict(client))
    job = TrainingJob(kept.id, user, request, settings, pictures=kept.pictures, saved_step=kept.step)
    job.write_record()
    return job


def sweep_kept(settings: EngineSettings, busy: Collection[str]) -> int:
    """Delete the folders of trainings left longer than ENGINE_TRAINING_KEEP_DAYS (not `busy` ones); how many."""
    limit = time.time() - settings.training_keep_days * 86400
    gone = 0
    for job_id in kept_ids(settings):
        folder = kept_folder(settings, job_id)
        if job_id not in busy and folder.stat().st_mtime < limit:
            shutil.rmtree(folder, ignore_errors=True)
            log.info("the pictures of training %s, interrupted and left, are deleted", job_id)
            gone += 1
    return gone
