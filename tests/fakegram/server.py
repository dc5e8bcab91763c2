"""FakeTelegram: a Bot API server on 127.0.0.1 that records calls, queues updates and injects faults."""

from __future__ import annotations

import asyncio
import copy
import inspect
import itertools
import json
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from .methods import BotApiMethods
from .objects import QUERY_TOO_OLD, ApiError, FileStore, StoredFile, Upload
from .rich import RichMethods

log = logging.getLogger("fakegram")
DEFAULT_TOKEN = "123456789:AAFakeTokenForEaselTests_0123456789ab"
CONFLICT = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
# Form fields that stay strings; any other form field that parses as JSON is decoded (aiogram JSON-encodes
# every non-string value: ints, booleans, markups, lists).
STRING_FIELDS = {
    "text", "caption", "title", "description", "short_description", "name", "first_name", "last_name",
    "query", "callback_query_id", "inline_message_id", "file_id", "url", "parse_mode", "action",
    "language_code", "emoji", "secret_token", "business_connection_id", "message_effect_id", "payload",
}  # fmt: skip
FILE_FIELDS = {"photo", "document", "video", "audio", "animation", "voice", "video_note", "sticker", "thumbnail"}
UPDATE_KINDS_BY_DEFAULT_OFF = {"chat_member", "message_reaction", "message_reaction_count"}


@dataclass
class Call:
    """One request the bot made. ``response`` is the JSON body answered (None while a long poll waits)."""

    index: int
    method: str
    params: dict
    files: dict[str, bytes] = field(repr=False)
    filenames: dict[str, str]
    time: float
    response: dict | None = None
    status: int | None = None

    @property
    def ok(self) -> bool:
        return bool(self.response and self.response.get("ok"))

    @property
    def result(self):
        return (self.response or {}).get("result")

    @property
    def chat_id(self) -> int | None:
        try:
            return int(self.params.get("chat_id"))
        except (TypeError, ValueError):
            return None


@dataclass
class Fault:
    method: str
    error_code: int
    description: str
    parameters: dict
    times: int
    disconnect: bool
    delay: float
    when: Callable[[dict], bool] | None = None
    hits: list[int] = field(default_factory=list)


def _decode(name: str, value):
    if name in STRING_FIELDS or name in FILE_FIELDS or not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _resolve(value, uploads: dict[str, Upload]):
    """Replace "attach://name" anywhere in a decoded value by the uploaded part."""
    if isinstance(value, str) and value.startswith("attach://") and value[9:] in uploads:
        return uploads[value[9:]]
    if isinstance(value, list):
        return [_resolve(v, uploads) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, uploads) for k, v in value.items()}
    return value


class FakeTelegram(BotApiMethods, RichMethods):
    def __init__(self, token: str = DEFAULT_TOKEN, bot_name: str = "Easel", bot_username: str = "easel_test_bot"):
        self.token = token
        self.me = {"id": int(token.split(":")[0]), "is_bot": True, "first_name": bot_name, "username": bot_username}
        self.base_url = ""
        self.calls: list[Call] = []
        self.files = FileStore()
        self.chats: dict[int, dict] = {}
        self.messages: dict[tuple[int, int], dict] = {}  # (chat_id, message_id) -> current Message
        self.ephemerals: list[dict] = []  # ephemeral messages (Bot API 10.2), each seen by one user only
        self.blocked: set[int] = set()
        self.callback_queries: dict[str, dict] = {}
        self.callback_answer_timeout: float | None = 15.0  # Telegram refuses late answers ("query is too old")
        # True: refuse a one-item sendMediaGroup (docs say 2-10); False: send it as a lone message, as
        # Telegram itself reportedly does
        self.strict_albums = True
        self.commands: dict[tuple[str, str], list] = {}
        self.webhook_url = ""
        self.updates: list[dict] = []  # not yet confirmed
        self.allowed_updates: list[str] = []
        self.faults: list[Fault] = []
        self.server_errors: list[str] = []  # tracebacks of bugs in the fake itself (answered as 400)
        self._cond = asyncio.Condition()
        self._update_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count] = {}
        self._poller = 0
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._methods = {name[4:].lower(): name[4:] for name in dir(self) if name.startswith("api_")}

    # ---- lifecycle -----------------------------------------------------------------------------------
    async def start(self) -> None:
        app = web.Application(client_max_size=200 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        self._closing = True
        await self._notify()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    # ---- chats, messages, files, updates (used by FakeUser) ------------------------------------------
    def group(self, chat_id: int, title: str = "Test group") -> dict:
        """Register a group (id -100... makes a supergroup) and return its Chat object."""
        kind = "supergroup" if str(chat_id).startswith("-100") else "group"
        return self.add_chat({"id": chat_id, "type": kind, "title": title})

    def add_chat(self, chat: dict) -> dict:
        self.chats[chat["id"]] = chat
        return chat

    def store_message(self, chat: dict, sender: dict, content: dict) -> dict:
        ids = self._message_ids.setdefault(chat["id"], itertools.count(1))
        msg = {"message_id": next(ids), "date": int(time.time()), "chat": chat, "from": sender, **content}
        self.messages[(chat["id"], msg["message_id"])] = msg
        return msg

    def message(self, chat_id: int, message_id: int) -> dict | None:
        """The current state of a stored message (after edits), or None when deleted/unknown."""
        return self.messages.get((chat_id, message_id))

    def chat_history(self, chat_id: int) -> list[dict]:
        """The chat's messages that still exist, oldest first, in their current state."""
        return [m for (c, _), m in sorted(self.messages.items()) if c == chat_id]

    def add_file(
        self, data: bytes = b"", file_name: str | None = None, mime_type: str | None = None, *,
        declared_size: int | None = None, kind: str = "documents",
    ) -> str:  # fmt: skip
        """Register a file (a declared size over 20 MB makes getFile refuse it); returns its file_id."""
        return self.files.add(data, kind, file_name, mime_type, declared_size).file_id

    def file(self, file_id: str) -> StoredFile:
        return self.files.by_id[file_id]

    async def push_update(self, kind: str, obj: dict) -> dict:
        """Queue an update ({"update_id": n, kind: obj}) and wake a waiting getUpdates."""
        update = {"update_id": next(self._update_ids), kind: obj}
        self.updates.append(update)
        await self._notify()
        return update

    # ---- recording -----------------------------------------------------------------------------------
    def calls_of(self, method: str, chat_id: int | None = None) -> list[Call]:
        m = method.lower()
        return [c for c in self.calls if c.method.lower() == m and (chat_id is None or c.chat_id == chat_id)]

    async def wait_for(
        self,
        method: str | tuple[str, ...],
        predicate: Callable[[Call], bool] | None = None,
        timeout: float = 30,  # noqa: ASYNC109
        after: int = 0,
        finished: bool = True,
    ) -> Call:
        """First call with index >= ``after`` to one of ``method`` that matches ``predicate``; waits on a
        condition, without polling. With ``finished`` (default) only answered calls count."""
        names = {m.lower() for m in ((method,) if isinstance(method, str) else method)}

        def find() -> Call | None:
            for c in self.calls[after:]:
                if c.method.lower() in names and (c.response is not None or not finished):
                    if predicate is None or predicate(c):
                        return c
            return None

        async with self._cond:
            try:
                await asyncio.wait_for(self._cond.wait_for(find), timeout)
            except TimeoutError:
                seen = [f"{c.index}:{c.method}" for c in self.calls[after:]][-30:]
                raise TimeoutError(f"no {sorted(names)} call after #{after} in {timeout}s; saw {seen}") from None
            return find()

    # ---- fault injection -----------------------------------------------------------------------------
    def fail_next(
        self,
        method: str,
        error_code: int = 429,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
        *,
        disconnect: bool = False,
        delay: float = 0.0,
        when: Callable[[dict], bool] | None = None,
    ) -> Fault:
        """Make the next ``times`` calls of ``method`` (whose params match ``when``) fail with Telegram's
        error JSON, or, with ``disconnect``, drop the connection unanswered (a network error); ``delay``
        seconds pass first. A 429 carries parameters.retry_after (default 1); a 400 for
        answerCallbackQuery says "query is too old" by default."""
        if error_code == 429 and retry_after is None:
            retry_after = 1
        if description is None and error_code == 400 and method.lower() == "answercallbackquery":
            description = QUERY_TOO_OLD
        if description is None:
            description = {
                429: f"Too Many Requests: retry after {retry_after}",
                400: "Bad Request",
                403: "Forbidden: bot was blocked by the user",
                500: "Internal Server Error",
            }.get(error_code, "Error")
        params = {"retry_after": retry_after} if retry_after is not None else {}
        fault = Fault(method.lower(), error_code, description, params, times, disconnect, delay, when)
        self.faults.append(fault)
        return fault

    def disconnect_next(self, method: str, delay: float = 0.0, times: int = 1) -> Fault:
        """Drop the connection of the next call(s) after ``delay`` s: the client sees a network error."""
        return self.fail_next(method, times=times, disconnect=True, delay=delay)

    def delay_next(self, method: str, delay: float, times: int = 1) -> Fault:
        """Answer the next call(s) normally, but only after ``delay`` seconds (a slow network)."""
        return self.fail_next(method, 0, "", times=times, delay=delay)

    def _take_fault(self, call: Call) -> Fault | None:
        for fault in self.faults:
            if fault.method == call.method.lower() and (fault.when is None or fault.when(call.params)):
                fault.times -= 1
                fault.hits.append(call.index)
                if fault.times <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    # ---- HTTP ----------------------------------------------------------------------------------------
    async def _notify(self) -> None:
        async with self._cond:
            self._cond.notify_all()

    async def _read(self, request: web.Request) -> tuple[dict, dict[str, Upload]]:
        params: dict = dict(request.query)
        uploads: dict[str, Upload] = {}
        if request.method == "POST" and request.content_type == "application/json":
            params.update(await request.json())
        elif request.method == "POST":
            for name, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    uploads[name] = Upload(value.file.read(), value.filename)
                    if name in FILE_FIELDS:  # a file sent in the parameter itself
                        params[name] = uploads[name]
                else:
                    params[name] = value
        params = {k: _resolve(_decode(k, v), uploads) for k, v in params.items()}
        return params, uploads

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        params, uploads = await self._read(request)
        name = self._methods.get(request.match_info["method"].lower(), request.match_info["method"])
        call = Call(
            index=len(self.calls),
            method=name,
            params=params,
            files={k: u.data for k, u in uploads.items()},
            filenames={k: u.filename for k, u in uploads.items()},
            time=time.monotonic(),
        )
        self.calls.append(call)
        await self._notify()
        fault = self._take_fault(call)
        try:
            if fault and fault.delay:
                await asyncio.sleep(fault.delay)
            if fault and fault.disconnect:
                call.response, call.status = {"ok": False, "description": "connection dropped by fake"}, 0
                await self._notify()
                request.transport.close()
                raise web.HTTPServiceUnavailable()  # never reaches the client: the connection is gone
            if fault and fault.error_code:
                raise ApiError(fault.error_code, fault.description, **fault.parameters)
            handler = getattr(self, f"api_{name}", None)
            result = handler(params) if handler else True
            if inspect.isawaitable(result):
                result = await result
            status, body = 200, {"ok": True, "result": result}
        except ApiError as e:
            status, body = e.code, e.body()
        except web.HTTPException:
            raise
        except Exception as e:  # a bug in the fake: answer it visibly rather than with a bare 500
            self.server_errors.append(traceback.format_exc())
            log.exception("fakegram failed on %s", name)
            status, body = 400, ApiError(400, f"Bad Request: fakegram could not handle it: {e!r}").body()
        call.response, call.status = copy.deepcopy(body), status
        await self._notify()
        return web.json_response(body, status=status)

    async def _download(self, request: web.Request) -> web.Response:
        f = self.files.by_path.get(request.match_info["path"])
        if request.match_info["token"] != self.token or f is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        return web.Response(body=f.data, content_type=f.mime_type or "application/octet-stream")

    # ---- long polling --------------------------------------------------------------------------------
    async def api_getUpdates(self, p: dict):
        if self.webhook_url:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active")
        self._poller += 1
        me = self._poller
        await self._notify()  # a poll still waiting gets 409, as Telegram answers two pollers
        offset = int(p.get("offset") or 0)
        if offset < 0:
            self.updates = self.updates[offset:]
        elif offset:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        if p.get("allowed_updates") is not None:
            self.allowed_updates = list(p["allowed_updates"])
        limit = min(max(int(p.get("limit") or 100), 1), 100)

        def ready() -> list[dict]:
            allowed = set(self.allowed_updates)
            self.updates = [
                u for u in self.updates
                if (allowed and set(u) & allowed) or (not allowed and not set(u) & UPDATE_KINDS_BY_DEFAULT_OFF)
            ]  # fmt: skip
            return self.updates[:limit]

        async with self._cond:
            try:
                await asyncio.wait_for(
                    self._cond.wait_for(lambda: self._closing or me != self._poller or ready()),
                    float(p.get("timeout") or 0),
                )
            except TimeoutError:
                pass
        if me != self._poller:
            raise ApiError(409, CONFLICT)
        return ready()
