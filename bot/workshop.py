"""The bot's one service between handlers and the engine: drafts, derived requests, submit, cancel.

A request is a JobRecord in storage (a short id that buttons carry). Handlers create or derive one,
then `start` it: the engine gets an ImageRequest, the chat gets a status message, delivery follows it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import unicodedata

from aiogram import Bot
from aiogram.types import Message, ReplyParameters

from engine.api import MAX_PROMPT_CHARS, BadImage, EngineError, ImageRequest, ImageService, Mode
from keyboards.jobs import in_progress_keyboard
from locales import Texts

from . import files, screens
from .delivery import Delivery
from .storage import JobRecord, Prefs, Store, new_job_id
from .telegram import edit_text, retrying

log = logging.getLogger(__name__)
SIZED_MODES = (Mode.GENERATE, Mode.RESTYLE, Mode.ZOOM)  # the others follow their source picture
SINGLE_MODES = (Mode.UPSCALE, Mode.ZOOM)
# Decoding a user's file takes up to ~40 MP x a few bytes a pixel: a few at a time bound the bot's memory.
DECODES_AT_ONCE = 2
DOUBLE_PRESS_S = 2.0  # the same button pressed again this soon is a double tap, not a wish for a second job
# Characters a prompt loses: controls (C0/C1, DEL) and invisible format characters (zero-width space, bidi
# marks and overrides, BOM, soft hyphen, word joiner...). ZWJ (U+200D, emoji sequences) and ZWNJ stay.
KEPT_FORMAT = {"\u200c", "\u200d"}
# Letters and symbols that draw nothing: people send them to make a message look empty (Hangul fillers, braille blank).
BLANKS = {"\u115f", "\u1160", "\u3164", "\uffa0", "\u2800"}


def balance(first_percent: str) -> list[float]:
    """Mix weights from the first photo's share in percent ("30" -> [0.3, 0.7])."""
    first = min(max(int(first_percent) if first_percent.isdigit() else 50, 0), 100) / 100
    return [first, round(1 - first, 2)]


def clean_prompt(text: str) -> tuple[str, bool]:
    """The prompt as the engine gets it: one line, controls and invisible characters dropped, cut to the engine's
    limit at a word boundary. Returns (prompt, whether it was cut); "" means there is nothing to draw."""
    kept = []
    for char in text:
        category = unicodedata.category(char)
        if category == "Cc" or char in BLANKS:
            kept.append(" ")  # newlines, tabs, NUL, escapes, blank letters: a separator at most
        elif category != "Cf" or char in KEPT_FORMAT:
            kept.append(char)
    prompt = " ".join("".join(kept).split())
    if not any(unicodedata.category(char)[0] in "LNPS" for char in prompt):
        return "", False  # only spaces, joiners or combining marks
    if len(prompt) <= MAX_PROMPT_CHARS:
        return prompt, False
    cut = prompt[:MAX_PROMPT_CHARS]
    if cut.rfind(" ") > MAX_PROMPT_CHARS * 0.8:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(), True


def _factor(value: str, default: float = 1.5) -> float:
    try:
        return float(value) if value else default
    except ValueError:
        return default


class SourcesMissing(Exception):
    """A record's source pictures are gone (expired) or could not be downloaded; `key` says which text."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class PictureRefused(SourcesMissing):
    """A user's file is not a picture the engine can use (corrupt, a bomb, too small, too narrow...)."""


class Workshop:
    def __init__(self, bot: Bot, engine: ImageService, store: Store, default_style: str) -> None:
        self.bot = bot
        self.engine = engine
        self.store = store
        self.styles = engine.styles()
        self.default_style = default_style
        self.delivery = Delivery(bot, engine, store, self.styles, self.modes)
        self.closing = False  # set on SIGTERM: new requests are told to come back in a minute
        self._decoding = asyncio.Semaphore(DECODES_AT_ONCE)
        self._presses: dict[tuple[int, str], float] = {}

    def first_press(self, user: int, data: str) -> bool:
        """False for a repeat of the same button by the same user within DOUBLE_PRESS_S (a double tap)."""
        now = time.monotonic()
        if len(self._presses) > 1000:
            self._presses = {key: at for key, at in self._presses.items() if now - at < DOUBLE_PRESS_S}
        last = self._presses.get((user, data))
        self._presses[(user, data)] = now
        return last is None or now - last >= DOUBLE_PRESS_S

    def modes(self) -> frozenset[str]:
        return frozenset(mode.value for mode in self.engine.available_modes())

    def can_beautify(self) -> bool:
        """Whether "✨ improve prompt" is offered: without a prompt LLM a user's "on" is kept but not used."""
        return self.engine.can_beautify()

    # ---- records ------------------------------------------------------------------------------------
    async def draft(self, owner: int, where: Message, prefs: Prefs, prompt: str = "", **fields) -> JobRecord:
        """A new request of `owner` in the chat (and topic) of `where`, from the owner's preferences."""
        record = JobRecord(
            id=new_job_id(),
            owner=owner,
            chat_id=where.chat.id,
            thread_id=where.message_thread_id if where.is_topic_message else None,
            prompt=prompt,
            style=prefs.style,
            aspect=prefs.aspect,
            count=prefs.count,
            beautify=prefs.beautify,
        )
        record = dataclasses.replace(record, **fields)
        await self.store.save_job(record)
        return record

    async def derive(self, parent: JobRecord, picture: int | None = None, **changes) -> JobRecord:
        """A new request from an earlier one: its sources (or one of its pictures) become the new sources."""
        child = dataclasses.replace(
            parent,
            id=new_job_id(),
            state="draft",
            engine_job="",
            pictures=[],
            result_style="",
            page=0,
            message_id=0,
            source_files=[],
            sources=0,
        )
        child = dataclasses.replace(child, **changes)
        if picture is not None:
            data = await self.store.get_blob(parent.id, f"pic{picture}")
            if data is None:
                raise SourcesMissing("expired")
            await self.store.put_blob(child.id, "src1", data)
            child.sources = 1
        else:
            images = await self.sources(parent)
            for n, data in enumerate(images, start=1):
                await self.store.put_blob(child.id, f"src{n}", data)
            child.sources = len(images)
        await self.store.save_job(child)
        return child

    async def follow_up(self, parent: JobRecord, act: str, picture: int = 0, value: str = "") -> JobRecord:
        """The request a button under results makes from `parent` (picture is 1-based)."""
        style = parent.result_style or parent.style
        seed = parent.pictures[0].seed if parent.pictures else parent.seed
        if act in ("vary", "strong"):
            variation = "strong" if act == "strong" else "subtle"
            return await self.derive(parent, picture, mode="vary", variation=variation, seed=None, style=style)
        if act == "upscale":
            return await self.derive(parent, picture, mode="upscale", count=1, seed=None)
        if act == "zoom":  # value: a target aspect ("16:9": extend to it) or a factor ("2": zoom out, same aspect)
            aspect, zoom = (value, 1.0) if ":" in value else ("", _factor(value))
            return await self.derive(
                parent, picture, mode="zoom", aspect=aspect, zoom=zoom, count=1, seed=None, style=style
            )
        if act == "remix":  # the prompt comes later, from the user
            return await self.derive(parent, picture, mode="remix", prompt="", seed=None)
        if act == "reroll":
            return await self.derive(parent, seed=None)
        if act == "mix":  # the same photos and seed, another balance
            return await self.derive(parent, weights=balance(value), seed=seed)
        if act == "restyle":  # the same prompt and seed; the style is picked next
            return await self.derive(parent, mode="restyle" if parent.mode == "generate" else parent.mode, seed=seed)
        raise ValueError(f"unknown follow-up {act!r}")

    async def from_photos(self, record: JobRecord, act: str, prefs: Prefs, value: str = "") -> JobRecord:
        """The request a choice under one or two user photos makes (record.prompt is their caption)."""
        style = prefs.style if record.prompt.strip() else None
        if act == "vary":
            mode = "reimagine" if "reimagine" in self.modes() else "vary"
            return await self.derive(record, mode=mode, count=prefs.count, style=style, seed=None)
        if act == "upscale":
            return await self.derive(record, mode="upscale", count=1, seed=None)
        if act == "mix":
            return await self.derive(record, mode="mix", weights=balance(value), count=prefs.count, style=style)
        if act in ("remix", "prompt"):  # these need a prompt: the caption, or one asked for next
            mode = "remix" if act == "remix" else "photo_prompt"
            return await self.derive(record, mode=mode, count=prefs.count, style=prefs.style, seed=None)
        raise ValueError(f"unknown photo choice {act!r}")

    async def take_picture(self, file_id: str) -> bytes:
        """A user's picture, checked on arrival so that a bad file is explained at once (raises SourcesMissing or
        PictureRefused, whose key is the text to show). The clean copy is kept under the file id for the
        request that uses it: downloaded once, decoded once."""
        kept = await self.store.get_blob(file_id, "in")
        if kept is not None:
            return kept
        try:
            data = await files.download(self.bot, file_id)
        except files.TooLarge:
            raise SourcesMissing("document-too-large") from None
        except files.DownloadFailed as error:
            log.warning("download of %s failed: %s", file_id, error)
            raise SourcesMissing("download-failed") from None
        try:
            async with self._decoding:
                clean = await asyncio.to_thread(files.clean_picture, data)
        except BadImage as error:
            log.info("picture %s refused: %s", file_id, error)
            raise PictureRefused(f"error-{error.code}") from None
        except Exception:  # a decoder failing in a way nobody expected: still a file we cannot read
            log.exception("picture %s could not be decoded", file_id)
            raise PictureRefused("error-bad_image") from None
        await self.store.put_blob(file_id, "in", clean)
        return clean

    async def sources(self, record: JobRecord) -> list[bytes]:
        """The record's source pictures; Telegram files are taken (downloaded, checked) once, on first use."""
        if record.source_files and not record.sources:
            for n, file_id in enumerate(record.source_files, start=1):
                data = await self.take_picture(file_id)
                await self.store.put_blob(record.id, f"src{n}", data)
            record.sources = len(record.source_files)
            await self.store.save_job(record)
        images = []
        for n in range(1, record.sources + 1):
            data = await self.store.get_blob(record.id, f"src{n}")
            if data is None:
                raise SourcesMissing("expired")
            images.append(data)
        return images

    def request(self, record: JobRecord, images: list[bytes]) -> ImageRequest:
        mode = Mode(record.mode)
        return ImageRequest(
            mode=mode,
            prompt=record.prompt,
            style=record.style,
            aspect=record.aspect if mode in SIZED_MODES else "",
            count=1 if mode in SINGLE_MODES else record.count,
            seed=record.seed,
            beautify=record.beautify and self.can_beautify(),
            images=tuple(images),
            weights=tuple(record.weights),
            variation="strong" if record.variation == "strong" else "subtle",
            zoom=record.zoom if mode == Mode.ZOOM else 1.0,
        )

    # ---- running ------------------------------------------------------------------------------------
    async def start(
        self, record: JobRecord, texts: Texts, *, edit: Message | None = None, reply_to: Message | None = None
    ) -> str | None:
        """Submit the request and show its status (editing `edit`, or replying to `reply_to`).

        Returns None when it started, else the localized reason to show the user.
        """
        if self.closing:
            return texts("restarting")
        try:
            images = await self.sources(record)
        except SourcesMissing as missing:
            return texts(missing.key)
        try:
            record.engine_job = await self.engine.submit(str(record.owner), self.request(record, images))
        except EngineError as error:
            log.info("request %s refused: %s", record.id, error)
            return screens.error_text(texts, error.code)
        record.state = "submitted"
        record.locale = texts.locale
        text = screens.status_text(texts, self.engine.status(record.engine_job))
        keyboard = in_progress_keyboard(texts, record.id)
        if edit is not None and await edit_text(self.bot, edit.chat.id, edit.message_id, text, keyboard):
            record.message_id = edit.message_id
        else:
            reply = (
                ReplyParameters(message_id=reply_to.message_id, allow_sending_without_reply=True) if reply_to else None
            )
            sent = await retrying(
                lambda: self.bot.send_message(
                    record.chat_id,
                    text,
                    reply_markup=keyboard,
                    reply_parameters=reply,
                    message_thread_id=record.thread_id,
                ),
                "sendMessage",
            )
            record.message_id = sent.message_id
        await self.store.save_job(record)
        self.delivery.follow(record, texts, text)
        return None

    def cancel(self, record: JobRecord) -> bool:
        return bool(record.engine_job) and self.engine.cancel(record.engine_job)

    def cancel_all(self, user: int) -> int:
        return sum(1 for job in self.delivery.active_jobs(user) if self.engine.cancel(job))
