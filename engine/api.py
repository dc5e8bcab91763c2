"""The engine's public surface: request and result types, job states, typed errors, and the service protocol.

Messenger-neutral: the Telegram bot (and later a corporate messenger) speaks only these types, and a
distributed backend (GPU workers behind Redis) can implement `ImageService` without touching handlers.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, Protocol

from .styles import Style

Profile = Literal["quality", "fast"]
Variation = Literal["subtle", "strong"]  # how far VARY goes from its picture
ASPECTS: tuple[str, ...] = ("1:1", "3:4", "4:3", "9:16", "16:9", "2:3", "3:2")
MAX_COUNT = 4
MAX_PROMPT_CHARS = 1000


def one_line(text: str) -> str:
    """The one whitespace normalisation of prompts, shared by the engine and its clients: one line, single spaces."""
    return " ".join(text.split())


class Mode(StrEnum):
    GENERATE = "generate"  # text -> pictures
    VARY = "vary"  # a picture -> pictures like it (img2img, subtle or strong), same prompt and style
    RESTYLE = "restyle"  # same prompt and seed through another style
    REIMAGINE = "reimagine"  # a picture -> variations without text (IP-Adapter image prompt)
    MIX = "mix"  # two (up to four) pictures -> one blend, a weight per picture, optional text
    REMIX = "remix"  # new prompt/style over the outlines of a picture (edge map -> T2I-Adapter/ControlNet)
    PHOTO_PROMPT = "photo_prompt"  # a photo guides, its caption is the prompt
    UPSCALE = "upscale"  # a picture -> long side 4096 (GAN/Lanczos, then tiled diffusion refinement)
    ZOOM = "zoom"  # extend a picture to another aspect ratio (outpainting)
    EDIT = "edit"  # a picture changed as `instruction` says ("make it night"): engine/modes/edit.py
    INPAINT = "inpaint"  # the `mask`ed region of a picture repainted as `instruction` says: engine/modes/inpaint.py


@dataclass(frozen=True)
class ModeFacts:
    """What a client and the engine both need to know about a mode; MODES holds one row per mode."""

    sources: tuple[int, int]  # how many source pictures it takes (least, most)
    aspect: bool  # the request's aspect sets the size (else the size follows the first source picture)
    single: bool = False  # one picture per request, whatever `count` says
    as_file: bool = False  # the picture is delivered as a file (full size, not recompressed), not as a photo

    @property
    def aspect_from_user(self) -> bool:
        """The user picks the aspect before it starts: the mode draws from text alone."""
        return self.aspect and self.sources[1] == 0


MODES: Mapping[Mode, ModeFacts] = {
    Mode.GENERATE: ModeFacts(sources=(0, 0), aspect=True),
    Mode.VARY: ModeFacts(sources=(1, 1), aspect=False),
    Mode.RESTYLE: ModeFacts(sources=(0, 1), aspect=True),  # 0: drawn again from the picture's prompt and seed
    Mode.REIMAGINE: ModeFacts(sources=(1, 1), aspect=False),
    Mode.MIX: ModeFacts(sources=(2, 4), aspect=True),
    Mode.REMIX: ModeFacts(sources=(1, 1), aspect=False),
    Mode.PHOTO_PROMPT: ModeFacts(sources=(1, 1), aspect=False),
    Mode.UPSCALE: ModeFacts(sources=(1, 1), aspect=False, single=True, as_file=True),
    Mode.ZOOM: ModeFacts(sources=(1, 1), aspect=True),  # the aspect to extend the picture to
    Mode.EDIT: ModeFacts(sources=(1, 1), aspect=False),
    Mode.INPAINT: ModeFacts(sources=(1, 1), aspect=False),
}


@dataclass(frozen=True)
class Origin:
    """The picture a derived request starts from, as its client knows it: written into every file it makes,
    so that the seed a user saw under that picture is found in the 4K file, the zoom, the variation..."""

    job: str  # the client's id of the request that made the picture (or holds the user's photo)
    picture: int = 0  # which of its pictures, 1-based; 0 = all of its source pictures (a user's photos)
    seed: int | None = None  # that picture's seed; None for a user's own photo


@dataclass(frozen=True, kw_only=True)
class ImageRequest:
    mode: Mode = Mode.GENERATE
    prompt: str = ""
    style: str | None = None  # style id; None = the engine's default style
    negative_prompt: str = ""
    aspect: str = "1:1"  # one of ASPECTS, where MODES says the mode takes one; "" = follow the source picture
    count: int = MAX_COUNT  # pictures per request, 1..MAX_COUNT (MODES[mode].single: 1)
    seed: int | None = None  # None = random; picture i gets seed + i
    profile: Profile | None = None  # None = the engine's default profile
    steps: int | None = None  # override the profile's/style's denoising steps (1..150)
    beautify: bool = False  # expand a short prompt with the LLM
    translate: bool = True  # translate a non-English prompt to English first
    images: tuple[bytes, ...] = ()  # source pictures as encoded files; decoded by the engine with limits
    weights: tuple[float, ...] = ()  # MIX: a weight per picture (normalized by the engine)
    variation: Variation = "subtle"  # VARY
    strength: float | None = None  # VARY/PHOTO_PROMPT denoise override, 0..1
    structure: float = 1.0  # REMIX: how strictly the outlines are kept, 0..2
    zoom: float = 1.0  # ZOOM: 1 = extend to the new aspect only; 1.5 / 2 = zoom out further (Midjourney), up to 4
    origin: Origin | None = None  # a derived request: the picture it starts from (recorded in its files)
    preview: bool = False  # while drawing, JobStatus.preview shows the picture forming (engine/preview.py)
    instruction: str = ""  # EDIT: what to change; INPAINT: what to paint in the mask ("" = remove what is there)
    mask: bytes = b""  # INPAINT: an image of the source picture's size, white (or opaque) where to repaint
    tags: tuple[str, ...] = ()  # ids of prompt tags (global or the style's) toggled on


TRAINING_PICTURES = (5, 50)  # how many pictures a style trained from a chat takes (least, most)
STYLE_NAME_RULE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,39}$")  # a trained style's id: 2-40 of a-z 0-9 - _


@dataclass(frozen=True, kw_only=True)
class TrainingRequest:
    """A brand style to train from a client's pictures (a LoRA, engine/training/style.py), at low priority: the
    training gives way to drawings between its steps."""

    name: str  # the new style's id (STYLE_NAME_RULE); also its trigger word, added to its prompt
    pictures: tuple[bytes, ...]  # encoded files, TRAINING_PICTURES of them
    captions: tuple[str, ...] = ()  # what each picture shows ("" or missing = nothing but the trigger)
    # What the client needs to find the training again after a restart (its chat, its status message): kept with
    # the pictures on the engine's disk and handed back by interrupted_trainings. Plain JSON values.
    client: Mapping[str, str | int] = field(default_factory=dict)


@dataclass(frozen=True)
class InterruptedTraining:
    """A training a restart stopped (ImageService.interrupted_trainings): its pictures, and its last checkpoint if
    it got that far, wait on the engine's disk for resume_training."""

    id: str
    user: str
    name: str
    pictures: int
    step: int  # the last checkpoint's: resume_training continues from it (0: it starts again)
    total_steps: int
    client: Mapping[str, str | int]


@dataclass(frozen=True)
class Picture:
    png: bytes  # full quality, generation parameters embedded
    preview: bytes  # JPEG for a chat photo (well under Telegram's 10 MB)
    seed: int
    width: int
    height: int
    # A big upscale may not fit 50 MB as PNG: then `png` holds a high-quality JPEG/WebP and this says which.
    file_format: str = "png"


@dataclass(frozen=True)
class JobResult:
    pictures: tuple[Picture, ...]
    prompt: str  # what the user typed
    final_prompt: str  # what the text encoder saw (translated, beautified, styled)
    negative_prompt: str
    style: str
    model: str
    steps: int
    seconds: float = 0.0


class JobState(StrEnum):
    WAITING = "waiting"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


class ErrorCode(StrEnum):
    """Why a job was refused or ended; the bot maps each to a localized message `error-<code>`."""

    USER_QUEUE_FULL = "user_queue_full"
    QUEUE_FULL = "queue_full"
    MODE_UNAVAILABLE = "mode_unavailable"
    BAD_REQUEST = "bad_request"
    BAD_IMAGE = "bad_image"
    IMAGE_TOO_LARGE = "image_too_large"
    IMAGE_TOO_SMALL = "image_too_small"
    IMAGE_ASPECT = "image_aspect"
    OUT_OF_MEMORY = "out_of_memory"
    WAIT_TIMEOUT = "wait_timeout"
    RUN_TIMEOUT = "run_timeout"
    SHUTTING_DOWN = "shutting_down"
    CANCELLED = "cancelled"
    INTERNAL = "internal"
    UNKNOWN_JOB = "unknown_job"
    OFFLINE = "offline"  # distributed backend: no live worker (the drawing machines are offline)
    EMPTY_MASK = "empty_mask"  # INPAINT with nothing painted
    # Training a brand style (ImageService.train_style): why it was refused or ended.
    STYLE_NAME = "style_name"  # not a usable style id (STYLE_NAME_RULE)
    STYLE_EXISTS = "style_exists"
    TRAINING_PICTURES = "training_pictures"  # fewer or more pictures than TRAINING_PICTURES
    TRAINING_BUSY = "training_busy"  # another style is being trained
    TRAINING_UNAVAILABLE = "training_unavailable"  # this backend or model family cannot train
    TRAINING_FAILED = "training_failed"


class EngineError(Exception):
    """Base of every error the engine reports to a client; `code` says which message to show."""

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str = "", code: ErrorCode | None = None) -> None:
        super().__init__(message or (code or self.code).value)
        if code is not None:
            self.code = code


class QueueFull(EngineError):
    """Refused at submit: the user's own cap (code USER_QUEUE_FULL) or the global cap (QUEUE_FULL)."""

    code = ErrorCode.QUEUE_FULL


class ModeUnavailable(EngineError):
    code = ErrorCode.MODE_UNAVAILABLE


class BadRequest(EngineError):
    code = ErrorCode.BAD_REQUEST


class BadImage(EngineError):
    """A source picture that cannot be used; code says why (BAD_IMAGE, IMAGE_TOO_LARGE, ...)."""

    code = ErrorCode.BAD_IMAGE


class ShuttingDown(EngineError):
    code = ErrorCode.SHUTTING_DOWN


class JobFailed(EngineError):
    code = ErrorCode.INTERNAL


class JobCancelled(EngineError):
    code = ErrorCode.CANCELLED


class TrainingRefused(EngineError):
    """A style training refused at once; code says why (STYLE_NAME, STYLE_EXISTS, TRAINING_PICTURES, ...)."""

    code = ErrorCode.TRAINING_UNAVAILABLE


@dataclass(frozen=True)
class JobStatus:
    job_id: str
    user: str
    state: JobState
    position: int = 0  # 1-based place in line while waiting (1 = next); 0 otherwise
    step: int = 0  # progress while running
    total_steps: int = 0
    error: ErrorCode | None = None
    result: JobResult | None = field(default=None, repr=False)
    preview: bytes | None = field(default=None, repr=False)  # JPEG of the first picture forming (ImageRequest.preview)


class ImageService(Protocol):
    """What a client (the bot) needs from the engine; an in-process or a distributed backend implements it."""

    def available_modes(self) -> frozenset[Mode]: ...

    def styles(self) -> Mapping[str, Style]:
        """The styles a request may name, by id, in the order to offer them (the default style among them)."""
        ...

    def can_beautify(self) -> bool:
        """Whether `ImageRequest.beautify` changes anything: a prompt LLM is configured (else the prompt passes
        as typed, and a client should not offer the choice)."""
        ...

    def can_describe(self) -> bool:
        """Whether `describe` works here: a captioning model is configured (else a client hides the choice)."""
        ...

    async def describe(self, image: bytes) -> tuple[str, ...]:
        """Up to three prompts (English) that describe the picture, an encoded file, best first; raises
        ModeUnavailable (no captioner), BadImage, ShuttingDown, JobFailed."""
        ...

    async def submit(self, user: str, request: ImageRequest) -> str:
        """Queue a job and return its id; raises QueueFull, ModeUnavailable, BadRequest, BadImage, ShuttingDown."""
        ...

    def cancel(self, job_id: str) -> bool: ...

    def status(self, job_id: str) -> JobStatus | None: ...

    def events(self, job_id: str) -> AsyncIterator[JobStatus]:
        """Every change of the job (position, progress, end), ending with a finished state."""
        ...

    async def result(self, job_id: str) -> JobResult:
        """Wait for the job; raises JobFailed (with its code) or JobCancelled."""
        ...

    def check_training(self, name: str) -> None:
        """Raise TrainingRefused, as train_style would, if a style `name` cannot be trained now: a bad or taken
        name, another training running, a backend or model family that cannot train."""
        ...

    async def train_style(self, user: str, request: TrainingRequest) -> str:
        """Queue the training of a brand style and return its job id, followed like a drawing's through status,
        events (its steps are training steps) and cancel; it ends DONE once the style is among styles().
        Raises TrainingRefused."""
        ...

    def interrupted_trainings(self) -> list[InterruptedTraining]:
        """Trainings a restart (or a crash) stopped, kept on disk for ENGINE_TRAINING_KEEP_DAYS; none elsewhere."""
        ...

    async def resume_training(self, user: str, job_id: str, client: Mapping[str, str | int]) -> str:
        """Queue an interrupted training again, from its last checkpoint, under the same id (returned), followed as
        train_style's. Raises TrainingRefused (UNKNOWN_JOB: its pictures are gone)."""
        ...

    def forget_training(self, job_id: str) -> bool:
        """Delete an interrupted training's pictures and checkpoint now; False if there were none."""
        ...

    def stats(self) -> dict:
        """Counters for an operator: {"waiting", "running", "done", "failed", "cancelled", "refused" (ints),
        "per_user_done" ({user: done}), "batching" ({"calls", "jobs", "pictures", "largest"})}."""
        ...

    def health(self) -> dict:
        """The memory of the device the engine computes on, in MB (engine.health.device_memory): on CUDA {"device",
        "allocated_mb", "reserved_mb", "used_mb", "total_mb", "peak_mb"}; on CPU {"device": "cpu", "rss_mb",
        "peak_mb"}. A distributed backend reports its workers' device here."""
        ...
