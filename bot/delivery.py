"""Follows a job from the queue to the chat: a status message with its place in line and progress (edited
sparingly, see pacing.py), then the album and a message with buttons replying to it.

Each job is followed by its own task; `drain` lets a shutdown wait for the deliveries in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection, Mapping

from aiogram import Bot
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup, InputMediaPhoto, Message, ReplyParameters

from engine.api import ErrorCode, ImageService, JobResult, JobState, JobStatus, Picture
from keyboards.jobs import in_progress_keyboard
from locales import Texts

from . import screens
from .pacing import StatusPacer
from .storage import JobRecord, Shot, Store, storage_down
from .telegram import Edit, chat_action, delete, edit_once, edit_text, retrying

log = logging.getLogger(__name__)


class Delivery:
    def __init__(
        self, bot: Bot, engine: ImageService, store: Store, styles: Mapping, modes: Callable[[], Collection[str]]
    ) -> None:
        self.bot = bot
        self.engine = engine
        self.store = store
        self.styles = styles
        self.modes = modes
        self._tasks: dict[str, asyncio.Task] = {}
        self._owners: dict[str, int] = {}  # engine job id -> user
        self.pacer = StatusPacer()  # one for every status message of every chat

    # ---- bookkeeping --------------------------------------------------------------------------------
    def follow(self, record: JobRecord, texts: Texts, shown: str) -> None:
        """Follow the job of `record`, whose status message now says `shown`."""
        task = asyncio.create_task(self._follow(record, texts, shown), name=f"deliver-{record.id}")
        self._tasks[record.id] = task
        self._owners[record.engine_job] = record.owner

        def done(_: asyncio.Task) -> None:
            self._tasks.pop(record.id, None)
            self._owners.pop(record.engine_job, None)

        task.add_done_callback(done)

    def active_jobs(self, user: int) -> list[str]:
        """Engine job ids of this user's requests still being followed."""
        return [job for job, owner in self._owners.items() if owner == user]

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def drain(self, timeout: float) -> bool:  # noqa: ASYNC109 - a bound, not a per-call timeout
        """Wait for every delivery in flight; False if some were still running after `timeout`."""
        tasks = list(self._tasks.values())
        if not tasks:
            return True
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        return not pending

    # ---- one job ------------------------------------------------------------------------------------
    async def _follow(self, record: JobRecord, texts: Texts, shown: str) -> None:
        try:
            final = await self._watch(record, texts, shown)
            if final.state == JobState.DONE:
                result = final.result or await self.engine.result(record.engine_job)
                await self._deliver(record, result, texts)
            else:
                record.state = "cancelled" if final.state == JobState.CANCELLED else "failed"
                await edit_text(self.bot, record.chat_id, record.message_id, screens.end_text(texts, final))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("delivery of job %s failed", record.id)
            record.state = "failed"
            with contextlib.suppress(Exception):
                await edit_text(self.bot, record.chat_id, record.message_id, screens.error_text(texts, "internal"))
        finally:
            with contextlib.suppress(Exception):
                await self.store.save_job(record)

    async def _watch(self, record: JobRecord, texts: Texts, shown: str) -> JobStatus:
        """Edit the status message as the job moves, when its text changes and pacing allows; return the job's
        final status."""
        latest: JobStatus | None = None
        changed = asyncio.Event()

        async def consume() -> None:
            nonlocal latest
            async for status in self.engine.events(record.engine_job):
                latest = status
                changed.set()

        consumer = asyncio.create_task(consume())
        keyboard = in_progress_keyboard(texts, record.id)
        last_edit = time.monotonic()  # the status message was just written by Workshop.start
        try:
            while not consumer.done():
                changed.clear()
                status, pause = latest, None  # None: nothing to show until the job moves
                if status is not None and not status.state.finished:
                    text = screens.status_text(texts, status)
                    if text != shown:
                        pause = self.pacer.wait_s(record.chat_id, status, last_edit)
                        if pause <= 0:
                            last_edit = time.monotonic()
                            if await self._edit_status(record, text, keyboard):
                                shown = text
                            continue
                # The job finishing ends any pause at once: a delivery never waits for a status edit.
                await _until_moved(consumer, changed, pause)
            await consumer
        finally:
            consumer.cancel()
        final = latest if latest is not None and latest.state.finished else self.engine.status(record.engine_job)
        if final is None or not final.state.finished:
            return JobStatus(record.engine_job, str(record.owner), JobState.FAILED, error=ErrorCode.UNKNOWN_JOB)
        return final

    async def _edit_status(self, record: JobRecord, text: str, keyboard: InlineKeyboardMarkup) -> bool:
        outcome, retry_after = await edit_once(self.bot, record.chat_id, record.message_id, text, keyboard)
        if outcome == Edit.FLOOD:
            self.pacer.flooded(retry_after)
        return outcome == Edit.DONE

    async def _deliver(self, record: JobRecord, result: JobResult, texts: Texts) -> None:
        record.result_style = result.style
        record.pictures = [Shot(p.seed, p.width, p.height, p.file_format) for p in result.pictures]
        record.state = "done"  # saved before the buttons appear: a quick press must find it done
        stored = await self._store_result(record, result)
        thread = record.thread_id
        started = time.monotonic()
        async with chat_action(self.bot, record.chat_id, "upload_photo", thread):
            if record.mode == "upscale":
                await self._send_file(record, result.pictures[0], texts)
            else:
                first = await self._send_album(record, result, texts)
                text, markup = self._under_album(texts, record, stored)
                await retrying(
                    lambda: self.bot.send_message(
                        record.chat_id,
                        text,
                        reply_markup=markup,
                        message_thread_id=thread,
                        reply_parameters=ReplyParameters(message_id=first.message_id, allow_sending_without_reply=True),
                    ),
                    "sendMessage",
                )
        await delete(self.bot, record.chat_id, record.message_id)
        log.info(
            "job %s delivered: %d picture(s) in %.1f s", record.id, len(result.pictures), time.monotonic() - started
        )

    def _under_album(self, texts: Texts, record: JobRecord, stored: bool) -> tuple[str, InlineKeyboardMarkup | None]:
        """The buttons, or, when the record could not be stored, a note instead: its buttons would only say
        "too old"."""
        if stored:
            return screens.results_screen(texts, record, self.modes())
        return texts("results-unsaved"), None

    async def _store_result(self, record: JobRecord, result: JobResult) -> bool:
        """Keep the record and its pictures for the buttons; False if storage failed (the pictures go out anyway)."""
        try:
            if record.mode != "upscale":  # a 4K file is sent, not kept: nothing is made from it here
                for n, picture in enumerate(result.pictures, start=1):
                    await self.store.put_blob(record.id, f"pic{n}", picture.png)
            await self.store.save_job(record)
        except Exception as error:
            if not storage_down(error):
                log.exception("job %s: the result could not be stored", record.id)
            else:
                log.warning("job %s: storage is not answering (%s); delivered without buttons", record.id, error)
            return False
        return True

    async def _send_album(self, record: JobRecord, result: JobResult, texts: Texts) -> Message:
        caption = screens.caption(texts, record, result, self.styles)
        thread = record.thread_id
        if len(result.pictures) == 1:  # sendMediaGroup takes 2-10 items
            picture = result.pictures[0]
            return await retrying(
                lambda: self.bot.send_photo(record.chat_id, _photo(picture), caption=caption, message_thread_id=thread),
                "sendPhoto",
            )
        media = [
            InputMediaPhoto(media=_photo(picture), caption=caption if n == 0 else None)
            for n, picture in enumerate(result.pictures)
        ]
        messages = await retrying(
            lambda: self.bot.send_media_group(record.chat_id, media, message_thread_id=thread), "sendMediaGroup"
        )
        return messages[0]

    async def _send_file(self, record: JobRecord, picture: Picture, texts: Texts) -> None:
        """4K: a small preview photo, then the file itself (a document is not recompressed)."""
        caption = texts("upscale-caption", width=picture.width, height=picture.height)
        preview = await retrying(
            lambda: self.bot.send_photo(
                record.chat_id, _photo(picture), caption=caption, message_thread_id=record.thread_id
            ),
            "sendPhoto",
        )
        extension = "jpg" if picture.file_format == "jpeg" else picture.file_format
        document = BufferedInputFile(picture.png, filename=f"easel-{picture.seed}-4k.{extension}")
        await retrying(
            lambda: self.bot.send_document(
                record.chat_id,
                document,
                message_thread_id=record.thread_id,
                reply_parameters=ReplyParameters(message_id=preview.message_id, allow_sending_without_reply=True),
            ),
            "sendDocument",
        )


def _photo(picture: Picture) -> BufferedInputFile:
    return BufferedInputFile(picture.preview, filename=f"easel-{picture.seed}.jpg")


async def _until_moved(consumer: asyncio.Task, changed: asyncio.Event, timeout: float | None) -> None:  # noqa: ASYNC109
    """Wait until the job moves (`changed`), its events end (`consumer`), or `timeout` seconds pass."""
    moved = asyncio.create_task(changed.wait())
    try:
        await asyncio.wait({consumer, moved}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        moved.cancel()
