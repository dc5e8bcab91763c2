"""The request service between handlers and the engine: records of requests, and their submission.

A request is a JobRecord (bot/records.py) under a short id that buttons carry. Handlers draft one, or derive
one from an earlier request by a rule (bot/rules.py), then submit it; delivery (bot/delivery.py) shows it
to the user. Nothing here sends a message: a refusal is raised as `Refused` with the text to show.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping

from engine.api import MODES, EngineError, ImageRequest, ImageService, JobResult, Mode, Origin
from engine.styles import Style
from locales import Texts

from . import screens
from .intake import Intake, PictureUnusable
from .records import JobRecord, Kind, PictureRecord, Prefs, State, new_job_id
from .rules import From, Rule, Seed, StyleOf
from .storage import Store, storage_down

log = logging.getLogger(__name__)


class Refused(Exception):
    """A request that cannot start (or be made); `text` is what to tell the user, in their language."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class Requests:
    def __init__(
        self,
        engine: ImageService,
        store: Store,
        intake: Intake,
        default_style: str,
        refused: Callable[[str], None] = lambda code: None,
    ) -> None:
        self.engine = engine
        self.store = store
        self.intake = intake
        self.default_style = default_style
        self.refused = refused  # told the code of every refusal (metrics)
        self.public_url = ""  # PUBLIC_URL: where the Mini App is served ("" = no 🖌 Region button)
        self.closing = False  # set on SIGTERM: new requests are told to come back in a minute
        self._in_flight: dict[str, int] = {}  # engine job -> owner, until the engine says it finished

    # ---- what the engine offers ---------------------------------------------------------------------
    @property
    def styles(self) -> Mapping[str, Style]:
        """Asked each time: a style trained while the bot runs appears in every keyboard without a restart."""
        return self.engine.styles()

    def modes(self) -> frozenset[Mode]:
        return frozenset(self.engine.available_modes())

    def style_names(self) -> dict[str, dict[str, str]]:
        """Each style's names by language, by id (a style typed as --style is found by any of them)."""
        return {style_id: dict(style.names) for style_id, style in self.styles.items()}

    def can_beautify(self) -> bool:
        """Whether "✨ improve prompt" is offered: without a prompt LLM a user's "on" is kept but not used."""
        return self.engine.can_beautify()

    def can_describe(self) -> bool:
        """Whether "💬 Describe" is offered: a captioning model is configured."""
        return self.engine.can_describe()

    async def describe(self, picture: bytes, texts: Texts) -> list[str]:
        """Up to three prompts that describe a user's picture (a clean copy from Intake); raises Refused."""
        if self.closing:
            raise Refused(texts("restarting"))
        try:
            return list(await self.engine.describe(picture))
        except EngineError as error:
            log.info("describe refused: %s", error)
            self.refused(str(error.code))
            raise Refused(screens.error_text(texts, error.code)) from None

    # ---- records ------------------------------------------------------------------------------------
    async def get(self, job_id: str) -> JobRecord | None:
        return await self.store.get_job(job_id)

    async def save(self, record: JobRecord) -> None:
        await self.store.save_job(record)

    async def draft(
        self, owner: int, chat_id: int, thread_id: int | None, prefs: Prefs, prompt: str = "", **fields
    ) -> JobRecord:
        """A new request of `owner` in a chat (and topic), from the owner's preferences."""
        record = JobRecord(
            id=new_job_id(),
            owner=owner,
            chat_id=chat_id,
            thread_id=thread_id,
            prompt=prompt,
            style=prefs.style,
            aspect=prefs.aspect,
            count=prefs.count,
            beautify=prefs.beautify,
            preview=prefs.preview,
        )
        record = dataclasses.replace(record, **fields)
        await self.save(record)
        return record

    async def derive(self, parent: JobRecord, rule: Rule, prefs: Prefs, picture: int = 0, **changes) -> JobRecord:
        """The request `rule` makes from `parent` (picture: the pressed one, 1-based); `changes` are the press's
        own arguments (a zoom factor, a balance). Raises PictureUnusable when the pictures are gone."""
        mode = rule.mode_for(parent.mode, self.modes())
        child = dataclasses.replace(
            parent,
            id=new_job_id(),
            kind=Kind.REQUEST,
            mode=mode,
            state=State.DRAFT,
            engine_job="",
            pictures=[],
            result_style="",
            page=0,
            message_id=0,
            source_file_ids=[],
            source_count=0,
            seed=self._seed(rule.seed, parent, picture),
            style=self._style(rule.style, parent, prefs),
            album_id=0,
            status_photo=False,
            preview=prefs.preview,
            **self._origin(rule, parent, picture),
        )
        if rule.variation:
            child.variation = rule.variation
        if rule.new_prompt:
            child.prompt = ""
        if rule.count_from_prefs:
            child.count = prefs.count
        if rule.count is not None:
            child.count = rule.count
        if MODES[mode].single:
            child.count = 1
        if rule.source == From.PICTURE or mode != parent.mode:  # an instruction is only ever redone (reroll, style)
            child.instruction = ""
        child = dataclasses.replace(child, **changes)
        child.params = ""  # the caption's parameters line is for the request they were typed with
        images = await self._images(rule.source, parent, picture)
        for n, data in enumerate(images, start=1):
            await self.store.put_blob(child.id, f"src{n}", data)
        if mode == Mode.INPAINT and parent.mode == Mode.INPAINT and rule.source == From.SOURCES:
            await self.store.put_blob(child.id, "mask", await self._mask(parent))
        child.source_count = len(images)
        await self.save(child)
        return child

    async def _images(self, source: From, parent: JobRecord, picture: int) -> list[bytes]:
        if source == From.PICTURE:
            return [await self.picture(parent, picture)]
        return [] if source == From.NOTHING else await self.sources(parent)

    @staticmethod
    def _seed(seed: Seed, parent: JobRecord, picture: int) -> int | None:
        if seed == Seed.FIRST:
            return parent.first_seed
        if seed == Seed.PICTURE:
            return parent.seed_of(picture)
        return None

    @staticmethod
    def _origin(rule: Rule, parent: JobRecord, picture: int) -> dict:
        """Which picture the new request starts from, for its files: the pressed one; the first one when the same
        pictures are made again (another style or balance); the user's photos; else the earlier request's own."""
        if rule.source == From.PICTURE:
            return {"origin_job": parent.id, "origin_picture": picture, "origin_seed": parent.seed_of(picture)}
        if rule.source == From.NOTHING:  # drawn anew from text: it starts from no picture
            return {"origin_job": "", "origin_picture": 0, "origin_seed": None, "weights": []}
        if parent.kind != Kind.REQUEST:
            return {"origin_job": parent.id, "origin_picture": 0, "origin_seed": None}
        if rule.seed == Seed.FIRST:
            return {"origin_job": parent.id, "origin_picture": 1, "origin_seed": parent.first_seed}
        return {}

    @staticmethod
    def _style(style: StyleOf, parent: JobRecord, prefs: Prefs) -> str | None:
        if style == StyleOf.RESULT:
            return parent.result_style or parent.style
        if style == StyleOf.PREFS:
            return prefs.style
        if style == StyleOf.PREFS_IF_CAPTION:
            return prefs.style if parent.prompt.strip() else None
        return parent.style

    async def picture(self, record: JobRecord, picture: int) -> bytes:
        """The file of a finished request's picture (1-based); raises PictureUnusable when it expired."""
        data = await self.store.get_blob(record.id, f"pic{picture}")
        if data is None:
            raise PictureUnusable("expired")
        return data

    async def sources(self, record: JobRecord) -> list[bytes]:
        """The record's source pictures as files; the user's files are taken (fetched, checked) on first use."""
        if record.source_file_ids and not record.source_count:
            for n, file_id in enumerate(record.source_file_ids, start=1):
                await self.store.put_blob(record.id, f"src{n}", await self.intake.take(file_id))
            record.source_count = len(record.source_file_ids)
            await self.save(record)
        images = []
        for n in range(1, record.source_count + 1):
            data = await self.store.get_blob(record.id, f"src{n}")
            if data is None:
                raise PictureUnusable("expired")
            images.append(data)
        return images

    async def star(self, record: JobRecord) -> bool:
        """⭐ on or off; a favourite's record and pictures are kept for FAVOURITE_KEEP_S. Returns the new state."""
        record.favourite = not record.favourite
        if record.favourite:
            for n in range(1, len(record.pictures) + 1):
                await self.store.put_blob(record.id, f"pic{n}", await self.picture(record, n), keep=True)
        await self.save(record)
        await self.store.set_favourite(record.owner, record.id, record.favourite)
        return record.favourite

    async def _mask(self, record: JobRecord) -> bytes:
        """An INPAINT's mask (the blob "mask", kept as long as its record); b"" for every other mode."""
        if record.mode != Mode.INPAINT:
            return b""
        mask = await self.store.get_blob(record.id, "mask")
        if mask is None:
            raise PictureUnusable("expired")
        return mask

    async def keep_result(self, record: JobRecord, result: JobResult) -> bool:
        """The record done, with its pictures kept for the buttons under them; False if storage failed (the
        pictures go out anyway, without buttons)."""
        record.result_style = result.style
        record.final_prompt, record.final_negative = result.final_prompt, result.negative_prompt
        record.pictures = [PictureRecord(p.seed, p.width, p.height, p.file_format) for p in result.pictures]
        record.state = State.DONE  # saved before the buttons appear: a quick press must find it done
        try:
            if not MODES[record.mode].as_file:  # a file is sent, not kept: nothing is made from it here
                for n, picture in enumerate(result.pictures, start=1):
                    await self.store.put_blob(record.id, f"pic{n}", picture.png)
            await self.save(record)
            if not MODES[record.mode].as_file:
                await self.store.add_history(record.owner, record.id)
        except Exception as error:
            if not storage_down(error):
                log.exception("job %s: the result could not be stored", record.id)
            else:
                log.warning("job %s: storage is not answering (%s); delivered without buttons", record.id, error)
            return False
        return True

    # ---- submission ---------------------------------------------------------------------------------
    def request(self, record: JobRecord, images: list[bytes], mask: bytes = b"") -> ImageRequest:
        """The engine's request for a record (its source pictures, and an INPAINT's mask, given as files)."""
        facts = MODES[record.mode]
        return ImageRequest(
            mode=record.mode,
            prompt=record.prompt,
            style=record.style,
            aspect=record.aspect if facts.aspect else "",
            count=1 if facts.single else record.count,
            seed=record.seed,
            beautify=record.beautify and self.can_beautify(),
            images=tuple(images),
            weights=tuple(record.weights),
            variation="strong" if record.variation == "strong" else "subtle",
            zoom=record.zoom if record.mode == Mode.ZOOM else 1.0,
            negative_prompt=record.negative,
            preview=record.preview and not facts.as_file,
            profile="fast" if record.fast else None,
            origin=Origin(record.origin_job, record.origin_picture, record.origin_seed) if record.origin_job else None,
            instruction=record.instruction,
            mask=mask,
            tags=tuple(self.offered_tags(record)),
        )

    def tags_of(self, style_id: str | None) -> list:
        """The prompt tags a style offers (engine.styles.Tag), the global ones first; [] for an unknown style."""
        style = self.styles.get(style_id or self.default_style)
        return list(style.tags) if style is not None else []

    def offered_tags(self, record: JobRecord) -> list[str]:
        """The record's chosen tags that its style offers (a tag chosen on the style screen may not be offered by
        the style then picked, and a reloaded styles file may have dropped one)."""
        offered = {tag.id for tag in self.tags_of(record.style)}
        return [tag for tag in record.tags if tag in offered]

    async def submit(self, record: JobRecord, texts: Texts, *, via: ImageService | None = None) -> None:
        """Hand the request to the engine (record.engine_job is then set); raises Refused with the reason.

        Once accepted it is saved and pending until its delivery ends (a restart runs it again, bot/recovery.py).
        `via`: another door to the engine (a request run again after a restart is not counted twice).
        """
        if self.closing:
            raise Refused(texts("restarting"))
        try:
            images = await self.sources(record)
            mask = await self._mask(record)
        except PictureUnusable as unusable:
            raise Refused(texts(unusable.key)) from None
        try:
            record.engine_job = await (via or self.engine).submit(str(record.owner), self.request(record, images, mask))
        except EngineError as error:
            log.info("request %s refused: %s", record.id, error)
            self.refused(str(error.code))
            raise Refused(screens.error_text(texts, error.code, **getattr(error, "values", {}))) from None
        record.state = State.SUBMITTED
        record.locale = texts.locale
        self._in_flight[record.engine_job] = record.owner
        try:
            await self.save(record)
            await self.store.add_pending(record.id)
        except Exception as error:  # the request runs all the same; only a crash would now lose it
            if not storage_down(error):
                raise
            log.warning("request %s: storage is not answering (%s); not kept for a restart", record.id, error)

    def adopt(self, record: JobRecord) -> None:
        """A request submitted before a restart and still in the engine (a fleet's): followed as if just submitted."""
        self._in_flight[record.engine_job] = record.owner

    async def settled(self, record: JobRecord) -> None:
        """The request's delivery ended (pictures sent, or the user told why not): nothing is owed any more."""
        self._in_flight.pop(record.engine_job, None)
        await self.store.remove_pending(record.id)

    async def owed(self) -> list[str]:
        """Ids of the requests accepted and never delivered (a crash left them), oldest first."""
        return await self.store.pending()

    async def forget(self, job_id: str) -> None:
        """An owed request whose record expired: nobody waits for it any more."""
        await self.store.remove_pending(job_id)

    def cancel(self, record: JobRecord) -> bool:
        return bool(record.engine_job) and self.engine.cancel(record.engine_job)

    def cancel_all(self, user: int) -> int:
        """Cancel every request of `user` still in the engine; how many were."""
        self._forget_finished()
        return sum(1 for job, owner in list(self._in_flight.items()) if owner == user and self.engine.cancel(job))

    def _forget_finished(self) -> None:
        for job in list(self._in_flight):
            status = self.engine.status(job)
            if status is None or status.state.finished:
                del self._in_flight[job]
