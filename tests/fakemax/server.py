"""FakeMax: the MAX Bot API on 127.0.0.1, as dev.max.ru documents it (docs/MESSENGERS.md), strict where the docs
set a rule: the token in the Authorization header only, required fields and their limits (text ≤ 4000, ≤ 30 rows
and ≤ 210 buttons, a callback payload ≤ 1024, images ≤ 50 MB and ≤ 7680 px), an answer to a press that carries a
message or a notification, ~30 requests a second. It records every call and injects 429s and
"attachment.not.ready" on request."""

from __future__ import annotations

import asyncio
import html
import io
import itertools
import re
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from PIL import Image

DEFAULT_TOKEN = "f9LHodD0cOKFakeMaxTokenForEaselTests_ab12"
BOT_ID = 900_001
RATE_PER_S = 30
TEXT_LIMIT = 4000
ROWS_LIMIT, BUTTONS_LIMIT, PAYLOAD_LIMIT = 30, 210, 1024
IMAGE_BYTES, IMAGE_SIDE = 50 * 1024 * 1024, 7680
HTML_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "del", "strike", "a", "code", "pre", "mark", "h1"}
BUTTON_TYPES = {"callback", "link", "request_geo_location", "request_contact", "open_app", "message", "clipboard"}
ATTACHMENT_TYPES = {"image", "video", "audio", "file", "sticker", "contact", "inline_keyboard", "location", "share"}
ACTIONS = {"typing_on", "sending_photo", "sending_video", "sending_audio", "sending_file", "mark_seen"}
NOT_READY = {"code": "attachment.not.ready", "message": "Key: errors.process.attachment.file.not.processed"}


class MaxError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.body = status, {"code": code, "message": message}


def bad(message: str, code: str = "proto.payload") -> MaxError:
    return MaxError(400, code, message)


@dataclass
class Call:
    index: int
    verb: str
    path: str
    query: dict[str, str]
    body: Any
    time: float
    status: int | None = None
    response: Any = None

    @property
    def route(self) -> str:
        path = re.sub(r"/-?\d+/", "/{id}/", self.path)
        return f"{self.verb} {path}"

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass
class Fault:
    route: str
    status: int
    body: dict
    times: int
    hits: list[int] = field(default_factory=list)


class FakeMax:
    def __init__(self, token: str = DEFAULT_TOKEN) -> None:
        self.token = token
        self.me = {"user_id": BOT_ID, "first_name": "Easel", "username": "easel_max_bot", "is_bot": True,
                   "last_activity_time": int(time.time() * 1000), "name": "Easel"}  # fmt: skip
        self.base_url = ""
        self.calls: list[Call] = []
        self.messages: dict[str, dict] = {}  # mid -> the Message as it is now
        self.chats: dict[int, dict] = {}  # chat_id -> {"user": ...}
        self.uploads: dict[str, dict] = {}  # token -> {"kind", "data", "filename", "size"}
        self.files: dict[str, bytes] = {}  # a user's attachments, downloadable at /files/{id}
        self.callbacks: dict[str, dict] = {}
        self.updates: list[tuple[int, dict]] = []  # (number, Update) not confirmed yet
        self.faults: list[Fault] = []
        self.not_ready_left = 0
        self.subscriptions: list[dict] = []  # webhook subscriptions: updates are POSTed there instead of polled
        self.deliveries: list[tuple[int, dict]] = []  # (HTTP status the webhook answered, Update)
        self.injected: set[int] = set()  # indexes of the calls refused on a test's request (429, not ready)
        self.server_errors: list[str] = []
        self._numbers = itertools.count(1)
        self._ids = itertools.count(1)
        self._recent: deque[float] = deque()
        self._cond = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    # ---- lifecycle --------------------------------------------------------------------------------------
    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/upload/{kind}/{n}", self._upload_bytes)
        app.router.add_get("/files/{name}", self._download)
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeMax:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- what users do (tests/fakemax/users.py) ----------------------------------------------------------
    def next_id(self) -> int:
        return next(self._ids)

    def new_mid(self) -> str:
        return f"mid.{0xE45E1000 + self.next_id():016x}"

    def add_file(self, data: bytes) -> str:
        name = f"f{self.next_id()}"
        self.files[name] = data
        return f"{self.base_url}/files/{name}"

    async def push(self, update: dict) -> None:
        update.setdefault("timestamp", int(time.time() * 1000))
        if self.subscriptions:
            await self._deliver(self.subscriptions[0], update)
            return
        self.updates.append((next(self._numbers), update))
        await self._notify()

    async def _deliver(self, subscription: dict, update: dict) -> None:
        headers = {"X-Max-Bot-Api-Secret": subscription["secret"]} if subscription.get("secret") else {}
        async with aiohttp.ClientSession() as http, http.post(subscription["url"], json=update, headers=headers) as r:
            self.deliveries.append((r.status, update))
        await self._notify()

    # ---- faults -----------------------------------------------------------------------------------------
    def fail_next(self, route: str, status: int = 429, code: str = "too.many.requests", times: int = 1) -> Fault:
        """The next `times` calls of `route` ("POST /messages") answer `status` with {"code": code}."""
        fault = Fault(route, status, {"code": code, "message": "Too many requests" if status == 429 else code}, times)
        self.faults.append(fault)
        return fault

    def not_ready_next(self, times: int = 1) -> None:
        """The next `times` messages carrying an uploaded attachment answer "attachment.not.ready"."""
        self.not_ready_left += times

    # ---- recording --------------------------------------------------------------------------------------
    async def _notify(self) -> None:
        async with self._cond:
            self._cond.notify_all()

    async def wait_for(self, matches: Callable[[Call], bool], after: int = 0, timeout: float = 60) -> Call:  # noqa: ASYNC109
        def find() -> Call | None:
            return next((c for c in self.calls[after:] if c.status is not None and matches(c)), None)

        async with self._cond:
            try:
                await asyncio.wait_for(self._cond.wait_for(find), timeout)
            except TimeoutError:
                seen = [f"{c.index}:{c.route}:{c.status}" for c in self.calls[after:]][-20:]
                raise TimeoutError(f"no matching call after #{after} in {timeout} s; saw {seen}") from None
        found = find()
        assert found is not None
        return found

    async def wait_polling(self, after: int = 0, timeout: float = 120) -> None:  # noqa: ASYNC109
        """Until a GET /updates (answered or still waiting) comes after call #`after`."""
        async with self._cond:
            await asyncio.wait_for(
                self._cond.wait_for(lambda: any(c.route == "GET /updates" for c in self.calls[after:])), timeout
            )

    def of(self, route: str) -> list[Call]:
        return [c for c in self.calls if c.route == route]

    # ---- HTTP -------------------------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body: Any = None
        if request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                body = "<not JSON>"
        call = Call(len(self.calls), request.method, "/" + request.match_info["path"], dict(request.query), body,
                    time.monotonic())  # fmt: skip
        self.calls.append(call)
        await self._notify()
        try:
            result = await self._answer(request, call)
            call.status, call.response = 200, result
        except MaxError as error:
            call.status, call.response = error.status, error.body
        except Exception as error:  # a bug in the fake: visible, not a bare 500
            self.server_errors.append(traceback.format_exc())
            call.status, call.response = 400, {"code": "fake.bug", "message": repr(error)}
        await self._notify()
        return web.json_response(call.response, status=call.status)

    async def _answer(self, request: web.Request, call: Call) -> Any:
        if "access_token" in request.query or request.headers.get("Authorization") != self.token:
            raise MaxError(401, "verify.token", "Invalid access_token")  # the docs' header, nothing else
        now = time.monotonic()
        while self._recent and now - self._recent[0] > 1.0:
            self._recent.popleft()
        self._recent.append(now)
        if len(self._recent) > RATE_PER_S:
            raise MaxError(429, "too.many.requests", f"over {RATE_PER_S} requests a second")
        for fault in self.faults:
            if fault.route == call.route:
                fault.times -= 1
                fault.hits.append(call.index)
                self.injected.add(call.index)
                if fault.times <= 0:
                    self.faults.remove(fault)
                raise MaxError(fault.status, fault.body["code"], fault.body["message"])
        handler = {
            "GET /me": self._get_me,
            "GET /updates": self._get_updates,
            "POST /messages": self._post_message,
            "PUT /messages": self._put_message,
            "DELETE /messages": self._delete_message,
            "POST /uploads": self._post_uploads,
            "POST /answers": self._post_answer,
            "POST /chats/{id}/actions": self._post_action,
            "GET /subscriptions": self._get_subscriptions,
            "POST /subscriptions": self._post_subscription,
            "DELETE /subscriptions": self._delete_subscription,
        }.get(call.route)
        if handler is None:
            raise MaxError(404, "not.found", f"no method {call.route}")
        return await handler(call)

    async def _get_me(self, call: Call) -> dict:
        return self.me

    async def _get_subscriptions(self, call: Call) -> dict:
        return {"subscriptions": [{k: v for k, v in s.items() if k != "secret"} for s in self.subscriptions]}

    async def _post_subscription(self, call: Call) -> dict:
        body = call.body if isinstance(call.body, dict) else {}
        url = body.get("url") or ""
        # HTTPS on 443 in production; a loopback http:// URL is let through for the tests' own server.
        if not (url.startswith("https://") or url.startswith("http://127.0.0.1:")):
            raise bad("url: must start with https://")
        if "secret" in body and not re.fullmatch(r"[a-zA-Z0-9_-]{5,256}", body["secret"] or ""):
            raise bad("secret: 5-256 of A-Z, a-z, 0-9, _ and -")
        self.subscriptions = [s for s in self.subscriptions if s["url"] != url]
        self.subscriptions.append({"url": url, "time": int(time.time() * 1000),
                                   "update_types": body.get("update_types"), "secret": body.get("secret")})  # fmt: skip
        return {"success": True}

    async def _delete_subscription(self, call: Call) -> dict:
        url = call.query.get("url") or ""
        self.subscriptions = [s for s in self.subscriptions if s["url"] != url]
        return {"success": True}

    async def _get_updates(self, call: Call) -> dict:
        if self.subscriptions:
            raise MaxError(405, "method.not.allowed", "the bot is subscribed to a webhook: no long polling")
        q = call.query
        limit = _int(q, "limit", 100, 1, 1000)
        timeout = _int(q, "timeout", 30, 0, 90)
        marker = q.get("marker")
        if marker not in (None, "", "null"):
            self.updates = [(n, u) for n, u in self.updates if n >= int(marker)]  # before the marker: handled
        types = set(q["types"].split(",")) if q.get("types") else None

        def ready() -> list[tuple[int, dict]]:
            return [(n, u) for n, u in self.updates if types is None or u["update_type"] in types][:limit]

        async with self._cond:
            try:
                await asyncio.wait_for(self._cond.wait_for(lambda: bool(ready())), timeout)
            except TimeoutError:
                pass
        found = ready()
        next_marker = found[-1][0] + 1 if found else (int(marker) if marker not in (None, "", "null") else None)
        return {"updates": [u for _, u in found], "marker": next_marker}

    def _chat(self, call: Call) -> int:
        ids = [k for k in ("chat_id", "user_id") if k in call.query]
        if len(ids) != 1:
            raise bad("give chat_id or user_id, one of them")
        number = int(call.query[ids[0]])
        if ids[0] == "user_id":
            number = next((c for c, chat in self.chats.items() if chat["user"]["user_id"] == number), 0)
        if number not in self.chats:
            raise MaxError(404, "chat.not.found", f"chat {call.query[ids[0]]} not found")
        return number

    async def _post_message(self, call: Call) -> dict:
        chat_id = self._chat(call)
        body = _new_message_body(call.body)
        if not body.get("text") and not body.get("attachments"):
            raise bad("text: empty message")
        attachments = [self._attachment(a) for a in body.get("attachments") or []]
        uploaded = any(a["type"] in ("image", "file", "video", "audio") for a in attachments)
        if uploaded and self.not_ready_left > 0:
            self.not_ready_left -= 1
            self.injected.add(call.index)
            raise MaxError(400, **NOT_READY)
        link = None
        if body.get("link"):
            target = self.messages.get(body["link"]["mid"])
            if target is None or target["recipient"]["chat_id"] != chat_id:
                raise bad(f"link.mid: no message {body['link']['mid']} in this chat")
            link = {"type": body["link"]["type"], "sender": target.get("sender"), "message": target["body"]}
        mid = self.new_mid()
        chat = self.chats[chat_id]
        message = {
            "sender": self.me,
            "recipient": {"chat_id": chat_id, "chat_type": "dialog", "user_id": chat["user"]["user_id"]},
            "timestamp": int(time.time() * 1000),
            "body": {
                "mid": mid,
                "seq": self.next_id(),
                "text": _shown(body.get("text") or "", body.get("format")),
                "attachments": attachments,
                "format": body.get("format"),
            },
            **({"link": link} if link else {}),
        }
        self.messages[mid] = message
        return {"message": message}

    def _attachment(self, request: dict) -> dict:
        kind, payload = request["type"], request.get("payload") or {}
        if kind == "inline_keyboard":
            _keyboard(payload)
            return {"type": kind, "payload": {"buttons": payload["buttons"]}}
        if kind in ("image", "file", "video", "audio"):
            if kind == "image" and payload.get("url") and not payload.get("token"):
                return {"type": "image", "payload": {"photo_id": self.next_id(), "url": payload["url"], "token": "u"}}
            upload = self.uploads.get(payload.get("token") or "")
            if upload is None or upload["kind"] != kind:
                raise bad(f"attachments: {kind} token unknown: {payload.get('token')!r}")
            url = self.add_file(upload["data"])
            if kind == "image":
                return {"type": kind, "payload": {"photo_id": self.next_id(), "url": url, "token": payload["token"]}}
            return {"type": kind, "payload": {"url": url, "token": payload["token"]}, "filename": upload["filename"],
                    "size": len(upload["data"])}  # fmt: skip
        raise bad(f"attachments: type {kind!r} is not what this bot should send")

    async def _put_message(self, call: Call) -> dict:
        message = self.messages.get(call.query.get("message_id") or "")
        if message is None:
            raise MaxError(404, "not.found", "message not found")
        if message["sender"]["user_id"] != BOT_ID:
            raise MaxError(403, "access.denied", "the bot may edit only its own messages")
        body = _new_message_body(call.body)
        if body.get("text") is not None:
            message["body"]["text"] = _shown(body["text"], body.get("format"))
            message["body"]["format"] = body.get("format")
        if body.get("attachments") is not None:  # null: as they are; []: none
            message["body"]["attachments"] = [self._attachment(a) for a in body["attachments"]]
        return {"success": True}

    async def _delete_message(self, call: Call) -> dict:
        if self.messages.pop(call.query.get("message_id") or "", None) is None:
            raise MaxError(404, "not.found", "message not found")
        return {"success": True}

    async def _post_uploads(self, call: Call) -> dict:
        kind = call.query.get("type")
        if kind == "photo":
            raise bad("type=photo is no longer supported: use type=image")
        if kind not in ("image", "video", "audio", "file"):
            raise bad(f"type: {kind!r}")
        answer = {"url": f"{self.base_url}/upload/{kind}/{self.next_id()}"}
        if kind in ("video", "audio"):
            answer["token"] = f"tok{self.next_id()}"
        return answer

    async def _upload_bytes(self, request: web.Request) -> web.Response:
        kind = request.match_info["kind"]
        call = Call(len(self.calls), "POST", f"/upload/{kind}", {}, None, time.monotonic())
        self.calls.append(call)
        try:
            form = await request.post()
            data = form.get("data")
            if not isinstance(data, web.FileField):
                raise bad("multipart field 'data' with the file is required")
            content = data.file.read()
            if kind == "image":
                _check_image(content)
            token = f"tok{self.next_id()}"
            self.uploads[token] = {"kind": kind, "data": content, "filename": data.filename}
            call.status, call.response = 200, {"token": token}
        except MaxError as error:
            call.status, call.response = error.status, error.body
        await self._notify()
        return web.json_response(call.response, status=call.status)

    async def _download(self, request: web.Request) -> web.Response:
        data = self.files.get(request.match_info["name"])
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="application/octet-stream")

    async def _post_answer(self, call: Call) -> dict:
        callback = self.callbacks.get(call.query.get("callback_id") or "")
        if callback is None:
            raise bad("callback_id: unknown")
        body = call.body if isinstance(call.body, dict) else {}
        if not body.get("message") and not body.get("notification"):
            raise bad("answer: message or notification is required")  # an empty answer is refused
        if body.get("message"):
            _new_message_body(body["message"])
        callback["answers"].append(body)
        return {"success": True}

    async def _post_action(self, call: Call) -> dict:
        chat_id = int(call.path.split("/")[2])
        if chat_id not in self.chats:
            raise MaxError(404, "chat.not.found", "chat not found")
        if not isinstance(call.body, dict) or call.body.get("action") not in ACTIONS:
            raise bad(f"action: {call.body!r}")
        return {"success": True}


def _int(query: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    value = int(query.get(name, default))
    if not low <= value <= high:
        raise bad(f"{name}: {value} is not in [{low}, {high}]")
    return value


def _new_message_body(body: Any) -> dict:
    """NewMessageBody as the docs define it; anything else is refused."""
    if not isinstance(body, dict):
        raise bad("body: a JSON object is required")
    unknown = set(body) - {"text", "attachments", "link", "notify", "format"}
    if unknown:
        raise bad(f"body: unknown fields {sorted(unknown)}")
    text = body.get("text")
    if text is not None and (not isinstance(text, str) or len(text) > TEXT_LIMIT):
        raise bad(f"text: a string of at most {TEXT_LIMIT} characters")
    if body.get("format") not in (None, "markdown", "html"):
        raise bad(f"format: {body['format']!r}")
    if text and body.get("format") == "html":
        tags = {t.lower() for t in re.findall(r"</?([a-zA-Z][a-zA-Z0-9-]*)", text)} - HTML_TAGS
        if tags:
            raise bad(f"text: HTML tags MAX does not know: {sorted(tags)}")
    attachments = body.get("attachments")
    if attachments is not None:
        if not isinstance(attachments, list) or not all(isinstance(a, dict) for a in attachments):
            raise bad("attachments: a list of objects")
        for a in attachments:
            if a.get("type") not in ATTACHMENT_TYPES:
                raise bad(f"attachments: type {a.get('type')!r}")
        if sum(a["type"] == "inline_keyboard" for a in attachments) > 1:
            raise bad("attachments: one inline_keyboard at most")
    link = body.get("link")
    if link is not None and (link.get("type") not in ("forward", "reply") or not link.get("mid")):
        raise bad(f"link: {link!r}")
    return body


def _shown(text: str, fmt: str | None) -> str:
    """The text a user sees: MAX answers the text without its HTML (the formatting goes in `markup`)."""
    return html.unescape(re.sub(r"<[^>]+>", "", text)) if fmt == "html" else text


def _keyboard(payload: dict) -> None:
    rows = payload.get("buttons")
    if not isinstance(rows, list) or not rows or not all(isinstance(r, list) and r for r in rows):
        raise bad("inline_keyboard: buttons must be rows of buttons")
    if len(rows) > ROWS_LIMIT or sum(map(len, rows)) > BUTTONS_LIMIT:
        raise bad(f"inline_keyboard: at most {ROWS_LIMIT} rows and {BUTTONS_LIMIT} buttons")
    for button in (b for row in rows for b in row):
        if button.get("type") not in BUTTON_TYPES:
            raise bad(f"button: type {button.get('type')!r}")
        if not 1 <= len(button.get("text") or "") <= 128:
            raise bad(f"button: text of 1-128 characters: {button.get('text')!r}")
        if button["type"] == "callback" and not 1 <= len(button.get("payload") or "") <= PAYLOAD_LIMIT:
            raise bad(f"button: payload of 1-{PAYLOAD_LIMIT} characters")


def _check_image(data: bytes) -> None:
    if len(data) > IMAGE_BYTES:
        raise bad(f"image: over {IMAGE_BYTES} bytes")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in ("JPEG", "PNG", "GIF", "TIFF", "BMP", "HEIF", "MPO"):
                raise bad(f"image: format {image.format}")
            if max(image.size) > IMAGE_SIDE:
                raise bad(f"image: {image.size} is over {IMAGE_SIDE} x {IMAGE_SIDE}")
    except OSError:
        raise bad("image: not an image") from None


__all__ = ["BOT_ID", "DEFAULT_TOKEN", "Call", "FakeMax"]
