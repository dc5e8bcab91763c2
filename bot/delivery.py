"""The one sender of a job's output: the first status message, its edits with the place in line and progress
(sparingly, see pacing.py), then the album and a message with buttons replying to it, or the 4K file.

A request is submitted by bot/requests.py; `start` shows it and follows it with a task of its own; `drain`
lets a shutdown wait for the deliveries in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import (
    BufferedInputFile,
    EphemeralMessageParameters,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    MediaUnion,
    Message,
    ReplyParameters,
)

from engine import stored_picture
from engine.api import MODES, ErrorCode, ImageService, JobResult, JobState, JobStatus, Picture
from keyboards.jobs import in_progress_keyboard, retry_keyboard
from locales import Texts

from . import screens
from .metrics import Metrics
from .pacing import StatusPacer
from .records import JobRecord, State
from .requests import Requests
from .telegram import Edit, PressedMessage, chat_action, delete, edit_caption, edit_once, edit_text, try_once

log = logging.getLogger(__name__)


class Delivery:
    def __init__(self, bot: Bot, engine: ImageService, requests: Requests, metrics: Metrics | None = None) -> None:
        self.bot = bot
        self.engine = engine
        self.requests = requests
        self.metrics = metrics
        self._tasks: dict[str, asyncio.Task] = {}
        self.pacer = StatusPacer()  # one for every status message of every chat
        self.rich = False  # RICH_MESSAGES: pictures and buttons as one sendRichMessage (Bot API 10.3)
        self.ephemeral = False  # EPHEMERAL_MESSAGES: refusals in groups seen by their user only (Bot API 10.2)

    # ---- bookkeeping --------------------------------------------------------------------------------
    async def start(
        self,
        record: JobRecord,
        texts: Texts,
        *,
        edit: int | None = None,
        reply_to: PressedMessage | None = None,
        note: str = "",
    ) -> None:
        """Show a submitted request's status (editing message `edit` of its chat, else replying to `reply_to`),
        after `note` if any, and follow it."""
        text = note + screens.status_text(texts, self.engine.status(record.engine_job))
        await self._show_status(record, text, in_progress_keyboard(texts, record.id), edit, reply_to)
        await self.requests.save(record)
        self._in_background(record, self._follow(record, texts, text))

    def resume(self, record: JobRecord, texts: Texts) -> None:
        """Deliver a request whose pictures were made and stored before a restart, but not all sent."""
        self._in_background(record, self._deliver_stored(record, texts))

    async def lost(self, record: JobRecord, texts: Texts, reason: str) -> None:
        """A request a restart could not redo: its status message says why, with a button to try again."""
        record.state = State.FAILED
        text = texts("status-lost") + "\n" + reason
        await self._show_status(record, text, retry_keyboard(texts, record.id), record.message_id or None)
        await self.requests.save(record)
        await self.requests.settled(record)

    async def _show_status(
        self,
        record: JobRecord,
        text: str,
        keyboard: InlineKeyboardMarkup,
        edit: int | None,
        reply_to: PressedMessage | None = None,
    ) -> None:
        """The request's status message says `text`: message `edit` edited, or else a new one (replying to
        `reply_to`); record.message_id is the one that shows it."""
        if edit and await edit_text(self.bot, record.chat_id, edit, text, keyboard):
            record.message_id = edit
            return
        reply = ReplyParameters(message_id=reply_to.message_id, allow_sending_without_reply=True) if reply_to else None
        sent = await self.bot.send_message(
            record.chat_id, text, reply_markup=keyboard, reply_parameters=reply, message_thread_id=record.thread_id
        )
        record.message_id = sent.message_id

    def _in_background(self, record: JobRecord, delivery: Coroutine) -> None:
        self.in_background(record.id, delivery)

    def in_background(self, key: str, work: Coroutine) -> None:
        """Run `work` (a delivery, or the status of a style being trained) as a task a shutdown drains."""
        task = asyncio.create_task(work, name=f"deliver-{key}")
        self._tasks[key] = task
        task.add_done_callback(lambda _: self._tasks.pop(key, None))

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
        """The status message kept up to date, then the pictures or the reason there are none."""

        submitted = time.monotonic()

        async def follow() -> None:
            final = await self._watch(record, texts, shown)
            if final.state == JobState.DONE:
                result = final.result or await self.engine.result(record.engine_job)
                stored = await self.requests.keep_result(record, result)
                await self._deliver(record, result, texts, stored)
                if self.metrics:
                    self.metrics.delivered(record.mode, len(result.pictures), time.monotonic() - submitted)
            else:
                record.state = State.CANCELLED if final.state == JobState.CANCELLED else State.FAILED
                if self.metrics:
                    self.metrics.failed(final.error or "unknown")
                await self._say(record, screens.end_text(texts, final))

        await self._settle(record, texts, follow())

    async def _deliver_stored(self, record: JobRecord, texts: Texts) -> None:
        async def deliver() -> None:
            await self._deliver(record, await self._stored_result(record), texts, stored=True)

        await self._settle(record, texts, deliver())

    async def _stored_result(self, record: JobRecord) -> JobResult:
        """A finished request's result again, from its stored pictures (raises PictureUnusable when expired)."""
        pictures = [
            stored_picture(await self.requests.picture(record, n), kept.seed)
            for n, kept in enumerate(record.pictures, start=1)
        ]
        return JobResult(tuple(pictures), record.prompt, "", "", record.result_style, "", 0)

    async def bring_back(self, record: JobRecord, texts: Texts, chat_id: int, thread_id: int | None) -> None:
        """/history, /favorites: a finished result sent again, with its buttons, into the chat it was asked
        from (which its buttons' new requests then answer in). Raises PictureUnusable when its pictures expired."""
        result = await self._stored_result(record)
        record.chat_id, record.thread_id = chat_id, thread_id
        async with chat_action(self.bot, chat_id, "upload_photo", thread_id):
            record.rich = False
            record.album_id = await self._send_pictures(record, result, texts, stored=True)
            await self.requests.save(record)
            if not record.rich:
                await self._send_buttons(record, texts, stored=True)

    async def _settle(self, record: JobRecord, texts: Texts, delivery: Coroutine) -> None:
        """Run a delivery; whatever happens the user hears an end (a failure is logged and said), and then
        nothing more is owed. A delivery cut short by a shutdown stays owed: the next start takes it up."""
        try:
            await delivery
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("delivery of job %s failed", record.id)
            record.state = State.FAILED
            with contextlib.suppress(Exception):
                await self._say(record, screens.error_text(texts, "internal"))
        with contextlib.suppress(Exception):
            await self.requests.save(record)
            await self.requests.settled(record)

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
        last_edit = time.monotonic()  # the status message was just written by `start`
        pictured: bytes | None = None  # the live preview the status shows
        try:
            while not consumer.done():
                changed.clear()
                status, pause = latest, None  # None: nothing to show until the job moves
                if status is not None and not status.state.finished:
                    text = screens.status_text(texts, status)
                    preview = status.preview if record.preview else None
                    fresh = preview if preview is not None and preview != pictured else None
                    if text != shown or fresh:
                        pause = self.pacer.wait_s(record.chat_id, status, last_edit)
                        if pause <= 0:
                            last_edit = time.monotonic()
                            if await self._edit_status(record, text, keyboard, fresh):
                                shown, pictured = text, fresh or pictured
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

    async def _edit_status(
        self, record: JobRecord, text: str, keyboard: InlineKeyboardMarkup, preview: bytes | None = None
    ) -> bool:
        """One paced, best-effort change of the status message: its text, or with `preview` the picture forming
        (the first one turns the status into a photo; later ones swap it)."""
        chat, message = record.chat_id, record.message_id
        if preview is not None and not record.status_photo:
            return await self._status_to_photo(record, text, keyboard, preview)
        if preview is None and not record.status_photo:
            return self._paced(await edit_once(self.bot, chat, message, text, keyboard))

        async def change_photo() -> object:
            if preview is None:
                return await self.bot.edit_message_caption(
                    chat_id=chat, message_id=message, caption=text, reply_markup=keyboard
                )
            media = InputMediaPhoto(media=BufferedInputFile(preview, "preview.jpg"), caption=text)
            return await self.bot.edit_message_media(media, chat_id=chat, message_id=message, reply_markup=keyboard)

        return self._paced(await try_once(change_photo, f"status of {chat}/{message}"))

    def _paced(self, tried: tuple[Edit, float]) -> bool:
        outcome, retry_after = tried
        if outcome == Edit.FLOOD:
            self.pacer.flooded(retry_after)
        return outcome == Edit.DONE

    async def _status_to_photo(
        self, record: JobRecord, text: str, keyboard: InlineKeyboardMarkup, preview: bytes
    ) -> bool:
        """A text message cannot become a photo: the first preview comes as a new status message (a photo with the
        status as its caption and the Cancel button) and the text one goes."""
        sent: list[Message] = []

        async def send() -> None:
            photo = BufferedInputFile(preview, "preview.jpg")
            sent.append(
                await self.bot.send_photo(
                    record.chat_id, photo, caption=text, reply_markup=keyboard, message_thread_id=record.thread_id
                )
            )

        if not self._paced(await try_once(send, f"preview in {record.chat_id}")) or not sent:
            return False
        old, record.message_id, record.status_photo = record.message_id, sent[0].message_id, True
        with contextlib.suppress(Exception):  # storage down: a restart would only edit the old message
            await self.requests.save(record)
        await delete(self.bot, record.chat_id, old)
        return True

    async def _say(self, record: JobRecord, text: str) -> None:
        """The status message's last words (cancelled, failed): its caption once it is a preview photo."""
        if record.status_photo:
            await edit_caption(self.bot, record.chat_id, record.message_id, text)
        else:
            await edit_text(self.bot, record.chat_id, record.message_id, text)

    async def _deliver(self, record: JobRecord, result: JobResult, texts: Texts, stored: bool) -> None:
        thread = record.thread_id
        started = time.monotonic()
        async with chat_action(self.bot, record.chat_id, "upload_photo", thread):
            if MODES[record.mode].as_file:
                await self._send_file(record, result.pictures[0], texts)
            else:
                if not record.album_id:  # else sent before a restart: never twice
                    record.album_id = await self._send_pictures(record, result, texts, stored)
                    if stored:
                        with contextlib.suppress(Exception):  # storage gone meanwhile: only a crash now could repeat it
                            await self.requests.save(record)
                if not record.rich:  # a rich message carries its buttons itself
                    await self._send_buttons(record, texts, stored)
        await delete(self.bot, record.chat_id, record.message_id)
        log.info(
            "job %s delivered: %d picture(s) in %.1f s", record.id, len(result.pictures), time.monotonic() - started
        )

    async def _send_buttons(self, record: JobRecord, texts: Texts, stored: bool) -> None:
        """The message with the buttons, replying to the album (sendMediaGroup cannot carry a keyboard)."""
        first_id = record.album_id
        text, markup = self._under_album(texts, record, stored)
        await self.bot.send_message(
            record.chat_id,
            text,
            reply_markup=markup,
            message_thread_id=record.thread_id,
            reply_parameters=ReplyParameters(message_id=first_id, allow_sending_without_reply=True),
        )

    def _under_album(self, texts: Texts, record: JobRecord, stored: bool) -> tuple[str, InlineKeyboardMarkup | None]:
        """The buttons, or, when the record could not be stored, a note instead: its buttons would only say
        "too old"."""
        if stored:
            return screens.results_screen(
                texts, record, self.requests.modes(), self.requests.public_url, self.requests.styles
            )
        return texts("results-unsaved"), None

    async def _send_pictures(self, record: JobRecord, result: JobResult, texts: Texts, stored: bool) -> int:
        """The pictures' message id: one rich message with the buttons where the server speaks Bot API 10.3 (and
        the record is kept, so the buttons work), else the album (its buttons follow in a reply)."""
        if self.rich and stored:
            text, markup = screens.results_screen(texts, record, self.requests.modes())
            rich = screens.rich_results(texts, record, result, self.requests.styles, text, _photo)
            try:
                sent = await self.bot.send_rich_message(
                    record.chat_id, rich, reply_markup=markup, message_thread_id=record.thread_id
                )
            except TelegramBadRequest as error:  # a server that does not speak it after all: the album, from now on
                log.warning("sendRichMessage refused (%s); sending albums instead", error.message)
                self.rich = False
            else:
                record.rich = True
                return sent.message_id
        return (await self._send_album(record, result, texts)).message_id

    async def tell(self, acted_on: PressedMessage, user_id: int, text: str) -> None:
        """A refusal or an error meant for one person: in a group, where the server speaks Bot API 10.2, an
        ephemeral message only they see; else a reply to the message they acted on."""
        chat = acted_on.chat
        if self.ephemeral and chat.type in ("group", "supergroup"):
            thread = acted_on.message_thread_id if isinstance(acted_on, Message) and acted_on.is_topic_message else None
            try:
                await self.bot.send_message(
                    chat.id,
                    text,
                    message_thread_id=thread,
                    ephemeral_message_parameters=EphemeralMessageParameters(receiver_user_id=user_id),
                )
                return
            except TelegramBadRequest as error:
                log.info("ephemeral message refused (%s); replying instead", error.message)
        await acted_on.reply(text)

    async def _send_album(self, record: JobRecord, result: JobResult, texts: Texts) -> Message:
        caption = screens.caption(texts, record, result, self.requests.styles)
        thread = record.thread_id
        if len(result.pictures) == 1:  # sendMediaGroup takes 2-10 items
            picture = result.pictures[0]
            return await self.bot.send_photo(record.chat_id, _photo(picture), caption=caption, message_thread_id=thread)
        media: list[MediaUnion] = [  # sendMediaGroup's list also takes other kinds (list is invariant)
            InputMediaPhoto(media=_photo(picture), caption=caption if n == 0 else None)
            for n, picture in enumerate(result.pictures)
        ]
        messages = await self.bot.send_media_group(record.chat_id, media, message_thread_id=thread)
        return messages[0]

    async def _send_file(self, record: JobRecord, picture: Picture, texts: Texts) -> None:
        """4K: a small preview photo, then the file itself (a document is not recompressed)."""
        caption = texts("upscale-caption", width=picture.width, height=picture.height)
        preview = await self.bot.send_photo(
            record.chat_id, _photo(picture), caption=caption, message_thread_id=record.thread_id
        )
        extension = "jpg" if picture.file_format == "jpeg" else picture.file_format
        # Named after the picture it was made of: the seed the user saw under it.
        seed = record.origin_seed if record.origin_seed is not None else picture.seed
        document = BufferedInputFile(picture.png, filename=f"easel-{seed}-4k.{extension}")
        await self.bot.send_document(
            record.chat_id,
            document,
            message_thread_id=record.thread_id,
            reply_parameters=ReplyParameters(message_id=preview.message_id, allow_sending_without_reply=True),
        )

    async def send_original(
        self,
        record: JobRecord,
        picture: int,
        data: bytes,
        texts: Texts,
        chat_id: int,
        thread_id: int | None,
        reply_to: int,
    ) -> None:
        """⬇ PNG: the stored full-quality file of picture `picture` as a document, byte for byte (Telegram
        recompresses photos, never documents), replying to the message the button is on."""
        kept = record.pictures[picture - 1]
        extension = "jpg" if kept.file_format == "jpeg" else kept.file_format
        document = BufferedInputFile(data, filename=f"easel-{kept.seed}.{extension}")
        caption = texts("png-caption", n=picture, width=kept.width, height=kept.height, seed=kept.seed)
        async with chat_action(self.bot, chat_id, "upload_document", thread_id):
            await self.bot.send_document(
                chat_id,
                document,
                caption=caption,
                message_thread_id=thread_id,
                reply_parameters=ReplyParameters(message_id=reply_to, allow_sending_without_reply=True),
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
