"""MaxSession: the aiogram session that speaks MAX. The bot (handlers, keyboards, delivery) calls the Bot API
methods it always called; each one used here is translated to MAX calls, and MAX's answers come back as the
Telegram objects aiogram expects. getUpdates is MAX long polling, so aiogram's own polling loop runs unchanged.

| Bot API | MAX |
|---|---|
| getUpdates | GET /updates (marker; message_created, message_callback, bot_started) |
| sendMessage / sendPhoto / sendDocument | POST /messages (after POST /uploads and the upload for a file) |
| sendMediaGroup | POST /messages: one message carrying every image |
| editMessageText / editMessageReplyMarkup | PUT /messages?message_id= |
| editMessageCaption / editMessageMedia | PUT /messages?message_id= (the picture kept, or uploaded anew) |
| deleteMessage | DELETE /messages?message_id= |
| answerCallbackQuery | POST /answers?callback_id= with a notification (none without a text: MAX wants one) |
| sendChatAction | POST /chats/{id}/actions |
| getFile + download | the attachment's URL |
| getMe | GET /me |
| setWebhook / deleteWebhook / getWebhookInfo | POST / DELETE / GET /subscriptions |
| setMyCommands, deleteMyCommands | nothing to do (commands are set in @MasterBot) |

Anything else answers 400 "not available on MAX", which the bot's careful wrappers treat as any refusal.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from aiogram import Bot
from aiogram.client.default import Default
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import (
    AnswerCallbackQuery,
    DeleteMessage,
    DeleteMyCommands,
    DeleteWebhook,
    EditMessageCaption,
    EditMessageMedia,
    EditMessageReplyMarkup,
    EditMessageText,
    GetFile,
    GetMe,
    GetUpdates,
    GetWebhookInfo,
    SendChatAction,
    SendDocument,
    SendMediaGroup,
    SendMessage,
    SendPhoto,
    SetMyCommands,
    SetWebhook,
    TelegramMethod,
)
from aiogram.types import InputFile
from PIL import Image

from ..capabilities import MAX
from . import convert
from .api import MaxApi, MaxError, MaxNetworkError
from .ids import IdMap, Kept

log = logging.getLogger(__name__)
IMAGE_BYTES = 50 * 1024 * 1024  # MAX: an image up to 50 MB and 7680 x 7680 px, both; bigger goes as a file
IMAGE_SIDE = MAX.image_side
DOWNLOAD_LIMIT = 20 * 1024 * 1024  # the bot's own bound on a user's file (bot/files.py), MAX has a higher one
ACTIONS = {"typing": "typing_on", "upload_photo": "sending_photo", "upload_document": "sending_file"}
# MAX's page for the API: files come from their own URLs, so a "file path" is that URL.
FILE_URLS = TelegramAPIServer(base="max://{token}/{method}", file="{path}")


class MaxSession(BaseSession):
    def __init__(self, api: MaxApi, ids: IdMap) -> None:
        super().__init__(api=FILE_URLS)
        self.max = api
        self.ids = ids
        self.me: dict[str, Any] | None = None
        self._marker: int | None = None
        self._marker_loaded = False
        self._calls: dict[type, Callable[[Bot, Any], Awaitable[Any]]] = {
            GetMe: self._get_me,
            GetUpdates: self._get_updates,
            SendMessage: self._send_message,
            SendPhoto: self._send_photo,
            SendDocument: self._send_document,
            SendMediaGroup: self._send_media_group,
            EditMessageText: self._edit_text,
            EditMessageReplyMarkup: self._edit_markup,
            EditMessageCaption: self._edit_caption,
            EditMessageMedia: self._edit_media,
            DeleteMessage: self._delete,
            AnswerCallbackQuery: self._answer,
            SendChatAction: self._chat_action,
            GetFile: self._get_file,
            SetWebhook: self._set_webhook,
            DeleteWebhook: self._delete_webhook,
            GetWebhookInfo: self._webhook_info,
            SetMyCommands: _nothing,
            DeleteMyCommands: _nothing,
        }

    # ---- aiogram's session interface ---------------------------------------------------------------------
    async def make_request(self, bot: Bot, method: TelegramMethod[Any], timeout: int | None = None) -> Any:  # noqa: ASYNC109
        call = self._calls.get(type(method))
        if call is None:
            refusal = _refusal(400, f"Bad Request: {type(method).__name__} is not available on MAX")
            return self._result(bot, method, refusal)
        try:
            result = await call(bot, method)
        except MaxError as error:
            return self._result(bot, method, _telegram_error(error))
        except MaxNetworkError as error:
            raise TelegramNetworkError(method=method, message=str(error)) from None
        return self._result(bot, method, {"ok": True, "result": result})

    def _result(self, bot: Bot, method: TelegramMethod[Any], answer: dict[str, Any]) -> Any:
        """Validated as aiogram validates Telegram's answers (objects bound to the bot; errors raised as theirs)."""
        status = 200 if answer["ok"] else int(answer["error_code"])
        return self.check_response(bot, method, status, json.dumps(answer)).result

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109 - aiogram's signature
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        try:
            data = await self.max.download(url, DOWNLOAD_LIMIT)
        except (MaxError, MaxNetworkError) as error:
            raise TelegramNetworkError(method=GetFile(file_id=""), message=str(error)) from None
        yield data

    async def close(self) -> None:
        await self.max.close()
        await self.ids.close()

    # ---- receiving ---------------------------------------------------------------------------------------
    async def _get_me(self, bot: Bot, method: GetMe) -> dict[str, Any]:
        me = await self.max.call("GET", "/me")
        self.me = convert.user(me)
        self.me["is_bot"] = True
        return self.me

    async def _get_updates(self, bot: Bot, method: GetUpdates) -> list[dict[str, Any]]:
        """MAX long polling. The marker passed confirms every update before it, as an offset does on Telegram:
        it is kept (in Redis with REDIS_URL) only once passed, so updates fetched but not handled before a
        crash come again after it."""
        if not self._marker_loaded:
            self._marker, self._marker_loaded = await self.ids.marker(), True
        marker = self._marker
        timeout = int(method.timeout or 0)
        query = {"marker": marker, "timeout": min(timeout, 90), "limit": min(method.limit or 100, 1000),
                 "types": list(convert.UPDATE_TYPES)}  # fmt: skip
        answer = await self.max.call("GET", "/updates", query, timeout_s=timeout + 15)
        await self.ids.confirm(marker)
        if answer.get("marker") is not None:
            self._marker = int(answer["marker"])
        found: list[dict[str, Any]] = []
        for update in answer.get("updates") or []:
            try:
                found.extend(await self.updates_of(update))
            except (KeyError, TypeError, ValueError) as error:  # one odd update must not stop polling
                log.warning("MAX update skipped (%s: %s): %.300s", type(error).__name__, error, update)
        return found

    async def updates_of(self, update: dict[str, Any]) -> list[dict[str, Any]]:
        """One MAX update (polled, or POSTed to the webhook) as the Telegram updates the Dispatcher takes."""
        if self._own(update):
            return []
        return await convert.updates(update, self.ids, self.me or {})

    # ---- webhook (bot/max/webhook.py receives) -----------------------------------------------------------
    async def _set_webhook(self, bot: Bot, method: SetWebhook) -> bool:
        body: dict[str, Any] = {"url": method.url, "update_types": list(convert.UPDATE_TYPES)}
        if method.secret_token:
            body["secret"] = method.secret_token
        await self.max.call("POST", "/subscriptions", body=body)
        return True

    async def _delete_webhook(self, bot: Bot, method: DeleteWebhook) -> bool:
        """MAX sends nothing to long polling while a webhook subscription exists: polling starts by removing it."""
        for subscription in (await self.max.call("GET", "/subscriptions")).get("subscriptions") or []:
            await self.max.call("DELETE", "/subscriptions", {"url": subscription["url"]})
        return True

    async def _webhook_info(self, bot: Bot, method: GetWebhookInfo) -> dict[str, Any]:
        subscriptions = (await self.max.call("GET", "/subscriptions")).get("subscriptions") or []
        return {"url": subscriptions[0]["url"] if subscriptions else "", "has_custom_certificate": False,
                "pending_update_count": 0}  # fmt: skip

    def _own(self, update: dict[str, Any]) -> bool:
        """A message of the bot's own, should MAX report it: never an update for the bot to answer."""
        sender = (update.get("message") or {}).get("sender") or {}
        return (
            update.get("update_type") == "message_created"
            and bool(self.me)
            and sender.get("user_id") == (self.me or {}).get("id")
        )

    async def _get_file(self, bot: Bot, method: GetFile) -> dict[str, Any]:
        url = await self.ids.file_url(method.file_id)
        if url is None:
            raise MaxError(400, "file.not.found", "wrong file identifier")
        return {"file_id": method.file_id, "file_unique_id": method.file_id, "file_path": url}

    # ---- sending -----------------------------------------------------------------------------------------
    async def _send_message(self, bot: Bot, method: SendMessage) -> dict[str, Any]:
        return await self._post(method, method.text, [], method.reply_markup)

    async def _send_photo(self, bot: Bot, method: SendPhoto) -> dict[str, Any]:
        image = await self._image(bot, method.photo)
        return await self._post(method, method.caption, [image], method.reply_markup)

    async def _send_document(self, bot: Bot, method: SendDocument) -> dict[str, Any]:
        data, name = await _bytes(bot, method.document)
        payload = await self.max.upload("file", data, name)
        return await self._post(method, method.caption, [{"type": "file", "payload": payload}], method.reply_markup)

    async def _send_media_group(self, bot: Bot, method: SendMediaGroup) -> list[dict[str, Any]]:
        """An album is one MAX message with every image; its caption is the first item's."""
        images = [await self._image(bot, item.media) for item in method.media]
        caption = next((item.caption for item in method.media if isinstance(item.caption, str)), None)
        sent = await self.max.send(*await self._message(method, caption, images, None))
        return await convert.messages(sent, self.ids)

    async def _image(self, bot: Bot, photo: InputFile | str) -> dict[str, Any]:
        if isinstance(photo, str):  # a file the bot received: MAX takes an image by URL
            url = await self.ids.file_url(photo)
            if url is None:
                raise MaxError(400, "file.not.found", "wrong file identifier")
            return {"type": "image", "payload": {"url": url}}
        data, name = await _bytes(bot, photo)
        if not _fits_as_image(data):
            return {"type": "file", "payload": await self.max.upload("file", data, name)}
        return {"type": "image", "payload": await self.max.upload("image", data, name)}

    async def _post(self, method: Any, text: Any, attachments: list[dict], markup: Any) -> dict[str, Any]:
        query, body = await self._message(method, text, attachments, markup)
        sent = await self.max.send(query, body)
        await self._remember(sent["body"]["mid"], body)
        return (await convert.messages(sent, self.ids))[0]

    async def _message(
        self, method: Any, text: Any, attachments: list[dict], markup: Any
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """(query, body) of POST /messages for a Bot API send method."""
        body: dict[str, Any] = {"text": self._text(text, method), "attachments": list(attachments)}
        if body["text"] is not None and _is_html(method):
            body["format"] = "html"
        keys = convert.keyboard(markup)
        if keys:
            body["attachments"].append(keys)
        reply = getattr(method, "reply_parameters", None)
        reply_to = reply.message_id if reply is not None else getattr(method, "reply_to_message_id", None)
        if reply_to:
            mid = await self.ids.mid(reply_to)
            if mid is not None:
                body["link"] = {"type": "reply", "mid": mid.split("#")[0]}
        if getattr(method, "disable_notification", None) is True:
            body["notify"] = False
        return {"chat_id": method.chat_id}, body

    def _text(self, text: Any, method: Any) -> str | None:
        if not isinstance(text, str) or not text:
            return None
        return convert.fit(convert.html_for_max(text) if _is_html(method) else text)

    # ---- editing: MAX edits whole messages, so what stays is sent again -----------------------------------
    async def _edit_text(self, bot: Bot, method: EditMessageText) -> bool:
        mid = await self._mid(method.message_id)
        await self._edit(mid, self._text(method.text, method), _is_html(method), [], method.reply_markup)
        return True

    async def _edit_caption(self, bot: Bot, method: EditMessageCaption) -> bool:
        """A photo's caption (a status that became a live preview): the picture stays as it was."""
        mid = await self._mid(method.message_id)
        kept = await self.ids.kept(mid)
        text, html = self._text(method.caption, method), _is_html(method)
        await self._edit(mid, text, html, kept.media if kept else None, method.reply_markup)
        return True

    async def _edit_media(self, bot: Bot, method: EditMessageMedia) -> bool:
        """Another picture in the message (the live preview moving on, a page of /history), with its caption."""
        mid, media = await self._mid(method.message_id), method.media
        image = await self._image(bot, media.media)
        caption = getattr(media, "caption", None)
        await self._edit(mid, self._text(caption, media), _is_html(media), [image], method.reply_markup)
        return True

    async def _edit_markup(self, bot: Bot, method: EditMessageReplyMarkup) -> bool:
        """The keyboard swapped, the text and pictures kept (with REDIS_URL across a restart; unknown otherwise:
        then null, which leaves the text as it is)."""
        mid = await self._mid(method.message_id)
        kept = await self.ids.kept(mid) or Kept(None, [])
        await self._edit(mid, kept.text, bool(kept.text), kept.media, method.reply_markup)
        return True

    async def _edit(self, mid: str, text: str | None, html: bool, media: list[dict] | None, markup: Any) -> None:
        """PUT the message's new text, `media` and keyboard. `media` None: the message's own, unknown here, which
        MAX keeps then, along with its old keyboard."""
        body: dict[str, Any] = {"text": text}
        if media is not None:
            keys = convert.keyboard(markup)
            body["attachments"] = [*media, *([keys] if keys else [])]
        if html:
            body["format"] = "html"
        await self._put(mid, body)
        await self._remember(mid, body)

    async def _put(self, mid: str, body: dict[str, Any]) -> None:
        answer = await self.max.call("PUT", "/messages", {"message_id": mid}, body)
        if isinstance(answer, dict) and answer.get("success") is False:
            raise MaxError(400, "edit.failed", str(answer.get("message") or "not edited"))

    async def _mid(self, message_id: int | None) -> str:
        mid = await self.ids.mid(message_id) if message_id else None
        if mid is None:
            raise MaxError(400, "message.not.found", "message to edit not found")
        return mid.split("#")[0]

    async def _remember(self, mid: str, body: dict[str, Any]) -> None:
        attachments = body.get("attachments") or []
        if any(a.get("type") == "inline_keyboard" for a in attachments):
            media = [a for a in attachments if a.get("type") != "inline_keyboard"]
            await self.ids.keep(mid, Kept(body.get("text"), media))

    async def _delete(self, bot: Bot, method: DeleteMessage) -> bool:
        await self.max.call("DELETE", "/messages", {"message_id": await self._mid(method.message_id)})
        return True

    # ---- the rest --------------------------------------------------------------------------------------
    async def _answer(self, bot: Bot, method: AnswerCallbackQuery) -> bool:
        """MAX refuses an empty answer: a press answered without a text is not answered at all (what follows it,
        an edit or a new message, is the answer the user sees)."""
        if not method.text:
            return True
        query = {"callback_id": method.callback_query_id}
        await self.max.call("POST", "/answers", query, {"notification": method.text})
        return True

    async def _chat_action(self, bot: Bot, method: SendChatAction) -> bool:
        action = ACTIONS.get(str(method.action))
        if action:
            await self.max.call("POST", f"/chats/{method.chat_id}/actions", body={"action": action})
        return True


async def _nothing(bot: Bot, method: Any) -> bool:
    return True


def _is_html(method: Any) -> bool:
    mode = getattr(method, "parse_mode", None)
    return isinstance(mode, Default) or (isinstance(mode, str) and mode.lower() == "html")


async def _bytes(bot: Bot, file: InputFile | str) -> tuple[bytes, str]:
    if isinstance(file, str):
        raise MaxError(400, "file.not.supported", "a file by id or URL cannot be sent again on MAX")
    buffer = io.BytesIO()
    async for chunk in file.read(bot):
        buffer.write(chunk)
    return buffer.getvalue(), file.filename or "file"


def _fits_as_image(data: bytes) -> bool:
    if len(data) > IMAGE_BYTES:
        return False
    try:
        with Image.open(io.BytesIO(data)) as image:
            return max(image.size) <= IMAGE_SIDE
    except Exception:  # not an image PIL knows: MAX will judge
        return True


def _refusal(code: int, description: str, retry_after: int | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if retry_after is not None:
        answer["parameters"] = {"retry_after": retry_after}
    return answer


def _telegram_error(error: MaxError) -> dict[str, Any]:
    """A MAX error as Telegram's, so the bot's wrappers (bot/telegram.py) treat it as they always did: 429 waits
    and repeats (MAX did nothing), 5xx retries, 400/403/404 are refusals."""
    text = f"{error.code}: {error.message}"
    if error.status == 429:
        return _refusal(429, f"Too Many Requests: {text}", retry_after=1)  # MAX gives no retry_after
    if error.status == 404:
        return _refusal(400, f"Bad Request: {text}")
    if error.status in (401, 403):
        return _refusal(error.status, ("Unauthorized: " if error.status == 401 else "Forbidden: ") + text)
    if error.status >= 500:
        return _refusal(error.status, f"Internal Server Error: {text}")
    return _refusal(400, f"Bad Request: {text}")
