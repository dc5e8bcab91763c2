"""MAX objects as the Telegram ones aiogram validates, and back: updates, messages, users, keyboards, HTML.

MAX names a message by a string ("mid.…"); aiogram wants an integer: IdMap gives each mid one. A MAX message with
several images becomes an album for the bot (one Telegram message per image, sharing a media_group_id), which is
what the photo handlers already collect. A user's file is named by a short id; IdMap keeps its URL for getFile.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from aiogram.types import InlineKeyboardMarkup

from ..capabilities import MAX
from .ids import IdMap

UPDATE_TYPES = ("message_created", "message_callback", "bot_started")
TEXT_LIMIT = MAX.text_limit  # MAX's NewMessageBody.text maxLength
# Telegram HTML the MAX HTML format also knows; any other tag (<tg-spoiler>, <blockquote>…) is dropped, its text kept.
KEPT_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "del", "strike", "a", "code", "pre"}
TAG = re.compile(r"</?([a-zA-Z][a-zA-Z0-9-]*)\b[^>]*>")


def html_for_max(text: str) -> str:
    return TAG.sub(lambda m: m.group(0) if m.group(1).lower() in KEPT_TAGS else "", text)


def fit(text: str) -> str:
    """At most TEXT_LIMIT characters (Telegram allows 4096). A text that must be cut loses its tags (a cut one, or
    one left open, would make the whole text refused); entities stay escaped."""
    if len(text) <= TEXT_LIMIT:
        return text
    plain = TAG.sub("", text)
    if len(plain) <= TEXT_LIMIT:
        return plain
    cut = plain[: TEXT_LIMIT - 1]
    return cut[: cut.rfind("&")] + "…" if cut.rfind("&") > cut.rfind(";") else cut + "…"


def stable_id(*parts: object) -> int:
    """The same positive integer for the same update every time it comes (a restart, a redelivery): HandledOnce
    then knows it was handled."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=7).digest()
    return int.from_bytes(digest, "big") or 1


def keyboard(markup: object) -> dict[str, Any] | None:
    """An inline keyboard as MAX's inline_keyboard attachment: callback buttons keep their data as payload, links
    stay links; what MAX has no button for (a Mini App) is left out (bot/capabilities.py hides it first)."""
    if not isinstance(markup, InlineKeyboardMarkup):
        return None
    rows = []
    for row in markup.inline_keyboard:
        buttons = []
        for button in row:
            if button.callback_data is not None:
                buttons.append({"type": "callback", "text": button.text, "payload": button.callback_data})
            elif button.url:
                buttons.append({"type": "link", "text": button.text, "url": button.url})
        if buttons:
            rows.append(buttons)
    return {"type": "inline_keyboard", "payload": {"buttons": rows}} if rows else None


def user(max_user: dict[str, Any], locale: str | None = None) -> dict[str, Any]:
    telegram = {
        "id": max_user["user_id"],
        "is_bot": bool(max_user.get("is_bot")),
        "first_name": max_user.get("first_name") or max_user.get("name") or "?",
    }
    if max_user.get("last_name"):
        telegram["last_name"] = max_user["last_name"]
    if max_user.get("username"):
        telegram["username"] = max_user["username"]
    if locale:
        telegram["language_code"] = locale.split("-")[0].lower()  # IETF "ru-RU" -> "ru"
    return telegram


def chat(recipient: dict[str, Any]) -> dict[str, Any]:
    kind = "private" if recipient.get("chat_type", "dialog") == "dialog" else "group"
    return {"id": recipient["chat_id"], "type": kind, **({"title": "MAX chat"} if kind == "group" else {})}


def command_entities(text: str) -> list[dict[str, Any]]:
    if not text.startswith("/"):
        return []
    command = text.split(maxsplit=1)[0]
    return [{"type": "bot_command", "offset": 0, "length": len(command.encode("utf-16-le")) // 2}]


def _markup(attachments: list[dict[str, Any]]) -> dict[str, Any] | None:
    for attachment in attachments:
        if attachment.get("type") == "inline_keyboard":
            rows = [
                [{"text": b["text"], "callback_data": b["payload"]} for b in row if b.get("type") == "callback"]
                for row in attachment["payload"].get("buttons", [])
            ]
            rows = [row for row in rows if row]
            return {"inline_keyboard": rows} if rows else None
    return None


def file_id(payload: dict[str, Any]) -> str:
    """A short, stable name for a user's attachment (its token says which file it is; the URL may be signed)."""
    key = payload.get("token") or payload.get("url") or ""
    return "max-" + hashlib.blake2b(str(key).encode(), digest_size=12).hexdigest()


async def _content(attachment: dict[str, Any], ids: IdMap) -> dict[str, Any]:
    """One attachment of a user's message as Telegram content (photo, document, video…), its URL kept."""
    kind, payload = attachment.get("type"), attachment.get("payload") or {}
    name = file_id(payload)
    if payload.get("url"):
        await ids.put_file(name, payload["url"])
    ref = {"file_id": name, "file_unique_id": name}
    if kind == "image":
        # MAX does not say an image's size; the bytes do, once downloaded.
        return {"photo": [{**ref, "width": payload.get("width") or 0, "height": payload.get("height") or 0}]}
    if kind == "file":
        filename = attachment.get("filename") or "file"
        return {"document": {**ref, "file_name": filename, "file_size": attachment.get("size") or 0}}
    if kind == "video":
        return {"video": {**ref, "width": attachment.get("width") or 0, "height": attachment.get("height") or 0,
                          "duration": attachment.get("duration") or 0}}  # fmt: skip
    if kind == "sticker":
        return {"sticker": {**ref, "type": "regular", "width": 512, "height": 512, "is_animated": False,
                            "is_video": False}}  # fmt: skip
    return {}


async def messages(message: dict[str, Any], ids: IdMap, locale: str | None = None) -> list[dict[str, Any]]:
    """A MAX message as Telegram messages: one, or one per image when it carries several (an album)."""
    body = message.get("body") or {}
    mid = body["mid"]
    base: dict[str, Any] = {"date": int(message.get("timestamp") or 0) // 1000, "chat": chat(message["recipient"])}
    if message.get("sender"):
        base["from"] = user(message["sender"], locale)
    link = message.get("link") or {}
    if link.get("type") == "reply" and (link.get("message") or {}).get("mid"):
        replied = link["message"]
        base["reply_to_message"] = {
            "message_id": await ids.message_id(replied["mid"]),
            "date": base["date"],
            "chat": base["chat"],
            **({"text": replied["text"]} if replied.get("text") else {}),
        }
    text = body.get("text") or ""
    attachments = body.get("attachments") or []
    markup = _markup(attachments)
    media = [a for a in attachments if a.get("type") not in ("inline_keyboard", None)]
    if not media:
        entities = command_entities(text)
        content = {"text": text, **({"entities": entities} if entities else {})}
        return [await _one(base, mid, content, markup, ids)]
    album = len(media) > 1
    out = []
    for n, attachment in enumerate(media):
        content = await _content(attachment, ids)
        if n == 0 and text:
            content["caption"] = text
        if album:
            content["media_group_id"] = mid
        out.append(await _one(base, mid if n == 0 else f"{mid}#{n + 1}", content, markup if n == 0 else None, ids))
    return out


async def _one(
    base: dict[str, Any], mid: str, content: dict[str, Any], markup: dict | None, ids: IdMap
) -> dict[str, Any]:
    out = {"message_id": await ids.message_id(mid), **base, **content}
    if markup:
        out["reply_markup"] = markup
    return out


async def updates(update: dict[str, Any], ids: IdMap, bot_user: dict[str, Any]) -> list[dict[str, Any]]:
    """A MAX update as Telegram updates (several for a message with several images; none for a kind not used)."""
    kind, locale = update.get("update_type"), update.get("user_locale")
    if kind == "message_created":
        found = await messages(update["message"], ids, locale)
        return [{"update_id": stable_id(kind, m["message_id"], n), "message": m} for n, m in enumerate(found)]
    if kind == "message_callback":
        callback = update["callback"]
        query: dict[str, Any] = {
            "id": callback["callback_id"],
            "from": user(callback["user"], locale),
            "data": callback.get("payload") or "",
        }
        if update.get("message"):
            pressed = (await messages(update["message"], ids))[0]
            query["message"] = pressed
            query["chat_instance"] = str(pressed["chat"]["id"])
        else:
            query["chat_instance"] = str(callback["user"]["user_id"])
        return [{"update_id": stable_id(kind, callback["callback_id"]), "callback_query": query}]
    if kind == "bot_started":
        # The user opened the bot (or a deep link): the bot hears "/start [payload]".
        text = "/start" + (f" {update['payload']}" if update.get("payload") else "")
        chat_id, when = update["chat_id"], int(update.get("timestamp") or 0)
        start = {
            "message_id": await ids.message_id(f"start:{chat_id}:{when}"),
            "date": when // 1000,
            "chat": {"id": chat_id, "type": "private"},
            "from": user(update["user"], locale),
            "text": text,
            "entities": command_entities(text),
        }
        return [{"update_id": stable_id(kind, chat_id, when), "message": start}]
    return []
