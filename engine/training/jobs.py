"""A brand style trained inside the running engine (ImageService.train_style, the chat's /train_style): a client's
pictures trained by engine/training/style.py, one step per turn of the engine's worker.

Low priority: engine/service.py gives a training a turn only while no drawing waits, and a turn is one step on the
GPU thread, so a user's picture submitted meanwhile waits at most for the step in progress. The training loads its
own copy of the model in the serving dtype (the serving pipeline stays as it is, with its styles' adapters) and
drops it at the end: on a GPU, memory for the model twice while a style is trained (the figures: README, "Brand
styles"; Qwen-Image's two bf16 copies, ≈ 100 GB, do not fit an 80 GB GPU).
"""

from __future__ import annotations

import asyncio
import io
import shutil
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from ..api import (
    STYLE_NAME_RULE,
    TRAINING_PICTURES,
    ErrorCode,
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


@dataclass(eq=False)
class TrainingJob:
    """One training in the engine: its status and listeners (as a drawing job's), its pictures on disk, its run."""

    id: str
    user: str
    request: TrainingRequest
    settings: EngineSettings
    status: JobStatus = field(init=False)
    created: float = field(default_factory=time.monotonic)
    listeners: list[asyncio.Queue] = field(default_factory=list)
    collected: bool = False
    stop_reason: ErrorCode | None = None  # a stop was asked (cancel, shutdown): the worker ends it at its next look
    finished_at: float = 0.0
    turning: bool = False  # its turn is on the GPU thread now
    run: style.Run | None = None

    def __post_init__(self) -> None:
        self.status = JobStatus(self.id, self.user, JobState.WAITING, total_steps=self.settings.training_steps)

    @property
    def folder(self) -> Path:
        """The pictures as files, for the trainer; removed at the end (a CLI run's checkpoints live elsewhere)."""
        return self.settings.lora_dir / ".training" / f"chat-{self.id}"

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
            checkpoint_every=s.training_steps,  # none: a chat's training is not resumed, it is started again
            source=f"{len(self.request.pictures)} pictures from a chat",
        )

    # ---- on the GPU thread ----------------------------------------------------------------------------------------
    def begin(self, existing: set[str]) -> None:
        """The pictures decoded (the engine's bounds; raises BadImage) and written with their captions, then the
        run set up: the model loaded, the pictures encoded. Raises TrainingError."""
        self.folder.mkdir(parents=True, exist_ok=True)
        captions = list(self.request.captions) + [""] * len(self.request.pictures)
        for n, data in enumerate(self.request.pictures):
            decode_image(data).save(self.folder / f"{n:03d}.png")
            if caption := one_line(captions[n]):
                (self.folder / f"{n:03d}.txt").write_text(caption, encoding="utf-8")
        self.run = style.begin(self.plan(), self.settings, existing)

    def advance(self) -> int:
        """One step; the steps done so far."""
        assert self.run is not None
        style.advance(self.run)
        return self.run.step

    def complete(self) -> style.Outcome:
        """The adapter and the style record written (the styles file changes: every client sees the style)."""
        assert self.run is not None
        return style.complete(self.run, self.settings)

    def discard(self) -> None:
        """Drop the run (its copy of the model) and the files."""
        self.run = None
        shutil.rmtree(self.folder, ignore_errors=True)
