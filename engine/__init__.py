"""Easel's picture engine: models, modes, the fair per-user queue and the GPU worker. Knows nothing of Telegram."""

from .api import (
    ASPECTS,
    BadImage,
    BadRequest,
    EngineError,
    ErrorCode,
    ImageRequest,
    ImageService,
    JobCancelled,
    JobFailed,
    JobResult,
    JobState,
    JobStatus,
    Mode,
    ModeUnavailable,
    Picture,
    QueueFull,
    ShuttingDown,
)
from .settings import EngineSettings

__all__ = [
    "ASPECTS",
    "BadImage",
    "BadRequest",
    "EngineError",
    "EngineSettings",
    "ErrorCode",
    "ImageRequest",
    "ImageService",
    "JobCancelled",
    "JobFailed",
    "JobResult",
    "JobState",
    "JobStatus",
    "Mode",
    "ModeUnavailable",
    "Picture",
    "QueueFull",
    "ShuttingDown",
]
