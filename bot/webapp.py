"""The Mini App's server: the 🖌 Region page and its API, on the bot's own aiohttp server (bot/app.py).

    GET  /app/region?job=&pic=        the page (bot/webapp/region.html, its script and style beside it)
    GET  /app/api/session?job=&pic=   who is asking: the page's texts in their language and the picture's size
    GET  /app/api/picture?job=&pic=   the picture itself
    POST /app/api/region?job=&pic=    multipart: `mask` (an image of the picture's size), `prompt` (may be empty)

Every API call carries Telegram's signed initData (`Authorization: tma <initData>`): a forged or stale one gets
401 and nothing runs; a picture of someone else's gets 403; a picture whose record expired, 404. A mask is checked
like any upload (size, format, dimensions, something painted) before anything is made; then the request is
derived, submitted and delivered in the user's chat exactly as a button press would be.
"""

from __future__ import annotations

import html
import io
import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

from aiogram.utils.web_app import WebAppUser, safe_parse_webapp_init_data
from aiohttp import web

from engine.api import MAX_PROMPT_CHARS, EngineError, ErrorCode, one_line
from engine.images import decode_image
from engine.masks import read_mask
from locales import Texts, Translator

from .access import AccessPolicy
from .delivery import Delivery
from .intake import PictureUnusable
from .links import PAGE_PATH
from .records import JobRecord, Kind, State
from .requests import Refused, Requests
from .rules import PHOTO_REGION_RULE, REGION_RULE

log = logging.getLogger(__name__)
STATIC = Path(__file__).with_name("webapp")
FILES = {"region.js": "text/javascript", "region.css": "text/css"}
MAX_POST_BYTES = 1024 * 1024  # aiohttp's own body limit: a mask of painted strokes is a few dozen KB
PAGE_KEYS = (
    "webapp-title",
    "webapp-hint",
    "webapp-brush",
    "webapp-undo",
    "webapp-clear",
    "webapp-invert",
    "webapp-prompt",
    "webapp-send",
    "webapp-sending",
    "webapp-sent",
    "webapp-empty",
    "webapp-failed",
)
NO_STORE = {"Cache-Control": "no-store"}


@dataclass
class Asker:
    """Who calls, proven by initData, and what they ask about."""

    user: WebAppUser
    texts: Texts
    record: JobRecord
    picture: int  # 1-based picture of a result; 0 = a user's own photo


class RegionApp:
    def __init__(
        self,
        token: str,
        max_age_s: int,
        requests: Requests,
        delivery: Delivery,
        translator: Translator,
        access: AccessPolicy,
    ) -> None:
        self.token, self.max_age_s = token, max_age_s
        self.requests, self.delivery = requests, delivery
        self.translator, self.access = translator, access

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(PAGE_PATH, self.page)
        app.router.add_get("/app/static/{name}", self.static)
        app.router.add_get("/app/api/session", self.session)
        app.router.add_get("/app/api/picture", self.picture)
        app.router.add_post("/app/api/region", self.region)

    # ---- the page ---------------------------------------------------------------------------------
    async def page(self, _: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "region.html", headers={**NO_STORE, "Content-Type": "text/html"})

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in FILES:  # a fixed list: no path from the request ever reaches the file system
            raise web.HTTPNotFound()
        return web.FileResponse(STATIC / name, headers={**NO_STORE, "Content-Type": FILES[name]})

    # ---- the API ----------------------------------------------------------------------------------
    async def session(self, request: web.Request) -> web.Response:
        asker = await self._asker(request)
        width, height = await self._size(asker)
        strings = {key.removeprefix("webapp-"): asker.texts.plain(key) for key in PAGE_KEYS}
        return web.json_response(
            {"locale": asker.texts.locale, "texts": strings, "width": width, "height": height}, headers=NO_STORE
        )

    async def picture(self, request: web.Request) -> web.Response:
        asker = await self._asker(request)
        return web.Response(body=await self._picture(asker), content_type="image/png", headers=NO_STORE)

    async def region(self, request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > MAX_POST_BYTES:
            # Refused before reading a byte of it (and before the signature: the size alone says no).
            body = json.dumps({"error": "too_large", "message": ""})
            raise web.HTTPRequestEntityTooLarge(
                MAX_POST_BYTES, request.content_length, text=body, content_type="application/json"
            )
        asker = await self._asker(request)
        form = await request.post()  # over MAX_POST_BYTES (chunked, no length): aiohttp answers 413 itself
        upload, prompt = form.get("mask"), form.get("prompt", "")
        if not isinstance(upload, web.FileField) or not isinstance(prompt, str):
            raise _error(web.HTTPBadRequest, "bad_request", asker.texts.plain("webapp-failed"))
        prompt = one_line(prompt)
        if len(prompt) > MAX_PROMPT_CHARS:
            text = asker.texts.plain("edit-too-long", limit=MAX_PROMPT_CHARS, length=len(prompt))
            raise _error(web.HTTPBadRequest, "too_long", text)
        mask = self._mask(upload.file.read(), await self._size(asker), asker.texts)
        await self._start(asker, mask, prompt)
        return web.json_response({"ok": True, "message": asker.texts.plain("webapp-sent")}, status=202)

    # ---- checks -----------------------------------------------------------------------------------
    async def _asker(self, request: web.Request) -> Asker:
        """The caller and the picture, or the refusal: 401 (no, forged or stale initData), 403 (not theirs or not
        allowed), 404 (no such picture any more)."""
        fallback = self.translator[self.translator.resolve(None, request.headers.get("Accept-Language", "")[:2])]
        scheme, _, init_data = request.headers.get("Authorization", "").partition(" ")
        try:
            if scheme != "tma":
                raise ValueError("no initData")
            data = safe_parse_webapp_init_data(self.token, init_data)
        except ValueError:
            raise _error(web.HTTPUnauthorized, "unauthorized", fallback.plain("webapp-denied")) from None
        age = time.time() - data.auth_date.timestamp()
        if data.user is None or not -60 < age < self.max_age_s:
            raise _error(web.HTTPUnauthorized, "unauthorized", fallback.plain("webapp-denied"))
        user = data.user
        prefs = await self.requests.store.get_prefs(user.id)
        texts = self.translator[self.translator.resolve(prefs.locale, user.language_code)]
        job, picture = request.query.get("job", ""), _int(request.query.get("pic", ""))
        record = await self.requests.get(job) if job else None
        if record is None or not _shows(record, picture):
            raise _error(web.HTTPNotFound, "expired", texts.plain("webapp-expired"))
        await self.access.ensure_loaded()
        if record.owner != user.id or not self.access.allowed(user.id, record.chat_id):
            raise _error(web.HTTPForbidden, "forbidden", texts.plain("webapp-denied"))
        return Asker(user, texts, record, picture)

    async def _picture(self, asker: Asker) -> bytes:
        try:
            if asker.picture == 0:
                return (await self.requests.sources(asker.record))[0]
            return await self.requests.picture(asker.record, asker.picture)
        except PictureUnusable:
            raise _error(web.HTTPNotFound, "expired", asker.texts.plain("webapp-expired")) from None

    async def _size(self, asker: Asker) -> tuple[int, int]:
        if asker.picture:
            kept = asker.record.pictures[asker.picture - 1]
            return kept.width, kept.height
        return decode_image(await self._picture(asker)).size  # a user's photo: its clean copy's size

    @staticmethod
    def _mask(data: bytes, size: tuple[int, int], texts: Texts) -> bytes:
        """The mask as a clean black-and-white PNG; 400 with the reason when it is no mask of this picture."""
        try:
            mask = read_mask(data, size)
        except EngineError as error:
            code = "empty_mask" if error.code == ErrorCode.EMPTY_MASK else "bad_mask"
            text = texts.plain("error-empty_mask") if code == "empty_mask" else texts.plain("webapp-failed")
            log.info("mask refused: %s", error)
            raise _error(web.HTTPBadRequest, code, text) from None
        out = io.BytesIO()
        mask.save(out, format="PNG")
        return out.getvalue()

    async def _start(self, asker: Asker, mask: bytes, prompt: str) -> None:
        """The request a 🖌 Region press makes, submitted and delivered in the user's chat."""
        record, texts = asker.record, asker.texts
        rule = PHOTO_REGION_RULE if asker.picture == 0 else REGION_RULE
        prefs = await self.requests.store.get_prefs(asker.user.id)
        try:
            child = await self.requests.derive(record, rule, prefs, asker.picture, instruction=prompt)
            await self.requests.store.put_blob(child.id, "mask", mask)
            await self.requests.submit(child, texts)
        except PictureUnusable:
            raise _error(web.HTTPNotFound, "expired", texts.plain("webapp-expired")) from None
        except Refused as refused:
            raise _error(web.HTTPConflict, "refused", _plain(refused.text)) from None
        log.info("region of %s/%s: request %s", record.id, asker.picture, child.id)
        await self.delivery.start(child, texts)


def _shows(record: JobRecord, picture: int) -> bool:
    """Whether the record has the picture a link names: a finished result's, or a user's photo (0)."""
    if picture == 0:
        return record.kind == Kind.PHOTO and bool(record.source_file_ids)
    return record.kind == Kind.REQUEST and record.state == State.DONE and 1 <= picture <= len(record.pictures)


def _int(value: str) -> int:
    return int(value) if value.isdigit() and len(value) < 3 else -1


def _plain(text: str) -> str:
    """A chat message (HTML) as the page shows it."""
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def _error(kind: type[web.HTTPException], code: str, message: str) -> web.HTTPException:
    """A refusal the page can show: JSON with a code and the text for the user."""
    body = json.dumps({"error": code, "message": message}, ensure_ascii=False)
    return kind(text=body, content_type="application/json", headers=NO_STORE)
