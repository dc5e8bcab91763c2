"""The status message of a brand style being trained (/train_style): its progress in paced edits, as a drawing's
(bot/pacing.py), then how it ended. The training itself runs in the engine (ImageService.train_style)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from aiogram import Bot

from engine.api import ErrorCode, ImageService, JobState, JobStatus
from keyboards.training import training_keyboard
from locales import Texts

from . import screens
from .pacing import StatusPacer
from .telegram import Edit, edit_once, edit_text


@dataclass(frozen=True)
class Training:
    """What the status message is about: the style, how many pictures, and where the message is."""

    job: str  # the engine's id of the training
    name: str
    pictures: int
    chat_id: int
    message_id: int


def status_text(texts: Texts, training: Training, status: JobStatus | None) -> str:
    if status is None or status.state == JobState.WAITING or status.step == 0:
        return texts("training-preparing", name=training.name, count=training.pictures)
    if status.state == JobState.RUNNING:
        percent, bar = screens.progress(status)
        return texts("training-running", name=training.name, count=training.pictures, percent=percent, bar=bar)
    return end_text(texts, training, status, 0.0)


def end_text(texts: Texts, training: Training, status: JobStatus, seconds: float) -> str:
    if status.state == JobState.DONE:
        minutes, rest = divmod(round(seconds), 60)
        return texts("training-done", name=training.name, steps=status.total_steps, minutes=minutes, seconds=rest)
    if status.state == JobState.CANCELLED and status.error in (None, ErrorCode.CANCELLED):
        return texts("training-cancelled", name=training.name)
    return screens.error_text(texts, status.error or "internal", name=training.name)


async def follow(bot: Bot, engine: ImageService, pacer: StatusPacer, training: Training, texts: Texts) -> None:
    """Keep the status message up to date until the training ends, then say how it ended. A status the pacing has
    no room for is skipped: the next step brings a newer one."""
    started, last_edit, shown = time.monotonic(), time.monotonic(), ""
    keyboard = training_keyboard(texts, training.job)
    final: JobStatus | None = None
    async for status in engine.events(training.job):
        if status.state.finished:
            final = status
            break
        text = status_text(texts, training, status)
        if text == shown or pacer.wait_s(training.chat_id, status, last_edit) > 0:
            continue
        last_edit = time.monotonic()
        outcome, retry_after = await edit_once(bot, training.chat_id, training.message_id, text, keyboard)
        if outcome == Edit.FLOOD:
            pacer.flooded(retry_after)
        elif outcome == Edit.DONE:
            shown = text
    final = final or engine.status(training.job)
    if final is None or not final.state.finished:  # the engine forgot it (it cannot, while the bot runs)
        final = JobStatus(training.job, "", JobState.FAILED, error=ErrorCode.UNKNOWN_JOB)
    text = end_text(texts, training, final, time.monotonic() - started)
    await edit_text(bot, training.chat_id, training.message_id, text)
