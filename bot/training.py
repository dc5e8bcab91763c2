"""The status message of a brand style being trained (/train_style): its progress in paced edits, as a drawing's
(bot/pacing.py), then how it ended. The training itself runs in the engine (ImageService.train_style).

A restart does not leave it saying "training… 40%": a shutdown ends it with "stopped for a restart", and after the
start `tell_interrupted` edits every status message of a training the engine kept (a crash's too) and offers its
administrator ▶ Resume (from the last checkpoint) or 🎓 Train again (before one), and Forget. The engine keeps
where the message is (TrainingRequest.client, `note`), so this works with the memory store too."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import ReplyParameters

from engine.api import ErrorCode, ImageService, InterruptedTraining, JobState, JobStatus
from keyboards.training import interrupted_keyboard, training_keyboard
from locales import Texts, Translator

from . import screens
from .pacing import StatusPacer
from .telegram import Edit, edit_once, edit_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Training:
    """What the status message is about: the style, how many pictures, and where the message is."""

    job: str  # the engine's id of the training
    name: str
    pictures: int
    chat_id: int
    message_id: int


def note(chat_id: int, message_id: int, texts: Texts) -> dict[str, str | int]:
    """What the engine keeps of a training for `tell_interrupted`: where its status message is, in which language."""
    return {"chat": chat_id, "message": message_id, "locale": texts.locale}


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
    if status.error == ErrorCode.SHUTTING_DOWN:
        return texts("training-paused", name=training.name, percent=screens.progress(status)[0])
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


async def tell_interrupted(bot: Bot, engine: ImageService, translator: Translator, keep_days: float) -> int:
    """After a start: each training a restart interrupted has its status message say so, and its administrator
    is offered to go on (a new message, so that it is noticed); how many."""
    told = 0
    for kept in engine.interrupted_trainings():
        chat, message = kept.client.get("chat"), kept.client.get("message")
        if not isinstance(chat, int) or not isinstance(message, int):  # not a chat's training
            continue
        texts = translator[str(kept.client.get("locale", ""))]
        try:
            await edit_text(bot, chat, message, texts("training-interrupted", name=kept.name))
            await bot.send_message(
                chat,
                offer_text(texts, kept, keep_days),
                reply_markup=interrupted_keyboard(texts, kept.id, resumes=kept.step > 0),
                reply_parameters=ReplyParameters(message_id=message, allow_sending_without_reply=True),
            )
            told += 1
        except TelegramAPIError as error:  # the chat is gone, the bot blocked: the pictures wait for their sweep
            log.warning("training %s: its administrator could not be told of the restart: %s", kept.id, error)
    return told


def offer_text(texts: Texts, kept: InterruptedTraining, keep_days: float) -> str:
    values = {"name": kept.name, "count": kept.pictures, "days": f"{keep_days:g}"}
    if kept.step > 0:
        return texts("training-resume-offer", step=kept.step, steps=kept.total_steps, **values)
    return texts("training-again-offer", **values)
