"""MaxApi: the MAX Bot API over aiohttp (docs/MESSENGERS.md cites the pages each rule comes from).

- The token goes in the `Authorization` header only: never in a URL, so never in a log line.
- At most RATE_PER_S requests a second leave this process (MAX asks for no more than 30 rps).
- An attachment uploaded a moment ago may answer "attachment.not.ready": the message is sent again after a
  growing pause. Nothing was created, so nothing is doubled.
- Errors come as {"code", "message"}; MaxError carries the HTTP status and that code.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp

log = logging.getLogger(__name__)
RATE_PER_S = 25.0  # below MAX's 30 rps, with room for clocks that disagree a little
NOT_READY = "attachment.not.ready"
NOT_READY_PAUSES_S = (0.5, 1.0, 2.0, 4.0, 8.0, 8.0)  # ~24 s in all: a big file takes a few seconds to process
UPLOAD_TIMEOUT_S = 120.0


class MaxError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


class MaxNetworkError(Exception):
    """No answer from MAX (a dropped connection, a timeout)."""


class Pace:
    """Spaces requests evenly, RATE_PER_S at most, for the whole process."""

    def __init__(self, per_s: float = RATE_PER_S) -> None:
        self.interval = 1.0 / per_s
        self.next_at = 0.0
        self.lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self.lock:
            now = time.monotonic()
            if self.next_at > now:
                await asyncio.sleep(self.next_at - now)
            self.next_at = max(now, self.next_at) + self.interval


class MaxApi:
    def __init__(self, token: str, base_url: str, timeout_s: float = 60.0) -> None:
        self._headers = {"Authorization": token}
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.pace = Pace()
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def call(
        self,
        verb: str,
        path: str,
        query: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        timeout_s: float | None = None,
    ) -> Any:
        """One request to the Bot API; the JSON answer, or MaxError / MaxNetworkError."""
        params = {k: _query_value(v) for k, v in (query or {}).items() if v is not None}
        await self.pace.wait()
        timeout = aiohttp.ClientTimeout(total=timeout_s or self.timeout_s)
        try:
            async with self.session().request(
                verb, self.base_url + path, params=params, json=body, headers=self._headers, timeout=timeout
            ) as response:
                return await _answer(response)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise MaxNetworkError(f"{verb} {path}: {type(error).__name__} {error}") from None

    async def send(self, query: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        """POST /messages; an attachment not processed yet is waited for (NOT_READY_PAUSES_S)."""
        for pause in (*NOT_READY_PAUSES_S, None):
            try:
                return (await self.call("POST", "/messages", query, body))["message"]
            except MaxError as error:
                if error.code != NOT_READY or pause is None:
                    raise
                log.info("attachment not ready yet; sending again in %.1f s", pause)
                await asyncio.sleep(pause)
        raise AssertionError("unreachable")

    async def upload(self, kind: str, data: bytes, filename: str) -> dict[str, Any]:
        """POST /uploads?type=kind, then the bytes to the URL it gives; the attachment's payload ({"token"})."""
        endpoint = await self.call("POST", "/uploads", {"type": kind})
        form = aiohttp.FormData()
        form.add_field("data", data, filename=filename)
        await self.pace.wait()
        timeout = aiohttp.ClientTimeout(total=UPLOAD_TIMEOUT_S)
        try:
            # The upload host is not the API host: it gets no token (the URL itself authorises the upload).
            async with self.session().post(endpoint["url"], data=form, timeout=timeout) as response:
                uploaded = await _answer(response)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise MaxNetworkError(f"upload: {type(error).__name__} {error}") from None
        if isinstance(uploaded, dict) and (uploaded.get("token") or uploaded.get("photos")):
            return {k: uploaded[k] for k in ("token", "photos") if uploaded.get(k)}
        if endpoint.get("token"):  # video/audio: the token came with the URL
            return {"token": endpoint["token"]}
        raise MaxError(500, "upload.no.token", f"the upload answered no token: {str(uploaded)[:200]}")

    async def download(self, url: str, limit: int) -> bytes:
        """A user's attachment from its URL (MAX's file hosts, no token), at most `limit` bytes."""
        timeout = aiohttp.ClientTimeout(total=UPLOAD_TIMEOUT_S)
        try:
            async with self.session().get(url, timeout=timeout) as response:
                if response.status != 200:
                    raise MaxError(response.status, "download.failed", response.reason or "")
                data = bytearray()
                async for chunk in response.content.iter_chunked(65536):
                    data += chunk
                    if len(data) > limit:  # read no further than the bound, whatever the file
                        raise MaxError(400, "file.too.big", f"over {limit} bytes")
        except (aiohttp.ClientError, TimeoutError) as error:
            raise MaxNetworkError(f"download: {type(error).__name__} {error}") from None
        return bytes(data)


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return str(value)


async def _answer(response: aiohttp.ClientResponse) -> Any:
    try:
        body = await response.json(content_type=None)
    except ValueError:
        body = None
    if response.status == 200:
        return body
    error = body if isinstance(body, dict) else {}
    code = str(error.get("code") or ("too.many.requests" if response.status == 429 else response.status))
    raise MaxError(response.status, code, str(error.get("message") or response.reason or ""))
