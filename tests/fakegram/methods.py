"""Bot API methods of the fake server, one ``api_<name>`` per method (state lives in FakeTelegram)."""

from __future__ import annotations

import itertools
import json
import time

from .objects import (
    DOWNLOAD_LIMIT,
    FILE_TOO_BIG,
    NOT_MODIFIED,
    QUERY_TOO_OLD,
    UPLOAD_LIMIT,
    ApiError,
    StoredFile,
    Upload,
    bad,
    format_text,
    photo_sizes,
)

# Defaults for the fields a media object must have, beyond file_id/file_unique_id.
MEDIA_FIELDS = {
    "document": {},
    "video": {"width": 640, "height": 360, "duration": 1},
    "animation": {"width": 320, "height": 240, "duration": 1},
    "audio": {"duration": 1},
    "voice": {"duration": 1},
    "sticker": {"type": "regular", "width": 512, "height": 512, "is_animated": False, "is_video": False},
}
MEDIA_KINDS = ("photo", *MEDIA_FIELDS)
_album_ids = itertools.count(13_000_000_000_000_000)


class BotApiMethods:
    # ---- helpers -------------------------------------------------------------------------------------
    def _chat(self, p: dict) -> dict:
        chat_id = p.get("chat_id")
        if chat_id in (None, ""):
            raise bad("chat_id is empty")
        try:
            chat = self.chats[int(chat_id)]
        except (KeyError, ValueError):
            raise bad("chat not found") from None
        if chat["id"] in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat

    def _markup(self, p: dict) -> dict | None:
        markup = p.get("reply_markup")
        if not isinstance(markup, dict):
            return None
        for row in markup.get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode()) <= 64:
                    raise bad("BUTTON_DATA_INVALID")
        # Telegram echoes only inline keyboards in the Message
        return markup if "inline_keyboard" in markup else None

    def _reply_to(self, chat_id: int, p: dict) -> dict | None:
        rp = p.get("reply_parameters") or {}
        mid = rp.get("message_id") or p.get("reply_to_message_id")
        if not mid:
            return None
        target = self.messages.get((int(rp.get("chat_id") or chat_id), int(mid)))
        if target is None:
            if rp.get("allow_sending_without_reply") or p.get("allow_sending_without_reply"):
                return None
            raise bad("message to be replied not found")
        return {k: v for k, v in target.items() if k != "reply_to_message"}

    def _file(self, value, kind: str) -> StoredFile | None:
        """The file a parameter names: an upload, or a file_id this server issued; None for a file_id
        whose content is re-used as is."""
        if isinstance(value, Upload):
            return None
        if isinstance(value, str) and value in self.files.by_id:
            return self.files.by_id[value]
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            raise bad("failed to get HTTP URL content")
        if not value:
            raise bad(f"there is no {kind} in the request")
        raise bad("wrong file identifier/HTTP URL specified")

    def _media(self, kind: str, value, p: dict) -> dict:
        """The Message fields for a photo/document/... given as an upload or a file_id."""
        known = self._file(value, kind)
        if kind == "photo":
            if known is None:
                return {"photo": photo_sizes(self.files, value.data)}
            if known.file_id not in self.files.photo_sets:
                raise bad("can't use file of type Document as Photo")
            return {"photo": self.files.photo_sets[known.file_id]}
        if known is None:
            if len(value.data) > UPLOAD_LIMIT:
                raise ApiError(413, "Request Entity Too Large")
            known = self.files.add(value.data, kind + "s", file_name=value.filename)
        obj = {**known.ref(), **MEDIA_FIELDS[kind]}
        for key in ("width", "height", "duration"):
            if p.get(key):
                obj[key] = int(p[key])
        if kind in ("document", "video", "animation", "audio") and known.file_name:
            obj["file_name"] = known.file_name
        if kind != "sticker" and known.mime_type:
            obj["mime_type"] = known.mime_type
        return {kind: obj}

    def _caption(self, p: dict) -> dict:
        caption, entities = format_text(
            p.get("caption"), p.get("parse_mode"), p.get("caption_entities"), 1024, "caption"
        )
        return {k: v for k, v in (("caption", caption), ("caption_entities", entities)) if v}

    def _new_message(self, chat: dict, p: dict, content: dict, markup: bool = True) -> dict:
        ephemeral = self._ephemeral(chat, p, content)  # type: ignore[attr-defined]  # (fakegram/rich.py)
        if ephemeral is not None:
            return ephemeral
        reply = self._reply_to(chat["id"], p)
        keyboard = self._markup(p) if markup else None
        msg = self.store_message(chat, self.me, content)
        if reply:
            msg["reply_to_message"] = reply
        if keyboard:
            msg["reply_markup"] = keyboard
        return msg

    def _target(self, p: dict) -> dict | None:
        if p.get("inline_message_id"):
            return None
        msg = self.messages.get((int(self._chat(p)["id"]), int(p.get("message_id") or 0)))
        if msg is None:
            raise bad("message to edit not found")
        return msg

    def _edit(self, msg: dict | None, changes: dict, p: dict):
        """Apply an edit; refuses a no-op like Telegram. Edits without reply_markup drop the keyboard."""
        if msg is None:
            return True
        changes["reply_markup"] = self._markup(p)
        if all(msg.get(k) == v for k, v in changes.items()):
            raise bad(NOT_MODIFIED.removeprefix("Bad Request: "))
        for key, value in changes.items():
            if value is None:
                msg.pop(key, None)
            else:
                msg[key] = value
        msg["edit_date"] = int(time.time())
        return msg

    # ---- getting updates, bot settings ---------------------------------------------------------------
    def api_getMe(self, p):
        return {
            **self.me,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def api_setWebhook(self, p):
        self.webhook_url = p.get("url") or ""
        return True

    def api_deleteWebhook(self, p):
        self.webhook_url = ""
        if p.get("drop_pending_updates"):
            self.updates.clear()
        return True

    def api_getWebhookInfo(self, p):
        return {"url": self.webhook_url, "has_custom_certificate": False, "pending_update_count": len(self.updates)}

    def _commands_key(self, p):
        scope = p.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), p.get("language_code") or ""

    def api_setMyCommands(self, p):
        self.commands[self._commands_key(p)] = list(p.get("commands") or [])
        return True

    def api_getMyCommands(self, p):
        return self.commands.get(self._commands_key(p), [])

    def api_deleteMyCommands(self, p):
        self.commands.pop(self._commands_key(p), None)
        return True

    def api_getChat(self, p):
        gifts = ("unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription")
        return {
            **self._chat(p),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {**dict.fromkeys(gifts, True), "gifts_from_channels": False},
        }

    def api_close(self, p):
        return True

    def api_logOut(self, p):
        return True

    # ---- sending -------------------------------------------------------------------------------------
    def api_sendMessage(self, p):
        chat = self._chat(p)
        text, entities = format_text(p.get("text"), p.get("parse_mode"), p.get("entities"), 4096, "message")
        if not text:
            raise bad("message text is empty")
        return self._new_message(chat, p, {"text": text, **({"entities": entities} if entities else {})})

    def _send_media(self, kind: str, p: dict):
        chat = self._chat(p)
        content = {**self._media(kind, p.get(kind), p), **self._caption(p)}
        if p.get("has_spoiler"):
            content["has_spoiler"] = True
        return self._new_message(chat, p, content)

    def api_sendPhoto(self, p):
        return self._send_media("photo", p)

    def api_sendDocument(self, p):
        return self._send_media("document", p)

    def api_sendVideo(self, p):
        return self._send_media("video", p)

    def api_sendAnimation(self, p):
        return self._send_media("animation", p)

    def api_sendAudio(self, p):
        return self._send_media("audio", p)

    def api_sendVoice(self, p):
        return self._send_media("voice", p)

    def api_sendSticker(self, p):
        return self._send_media("sticker", p)

    def api_sendMediaGroup(self, p):
        chat = self._chat(p)
        items = p.get("media")
        if not isinstance(items, list) or not items:
            raise bad("there are no messages to send")
        if len(items) > 10:
            raise bad("too many messages to send as an album")
        if len(items) == 1 and self.strict_albums:
            raise bad("fakegram: sendMediaGroup needs 2-10 items (documented limit); use sendPhoto for one")
        kinds = [item.get("type") for item in items]
        if "document" in kinds and set(kinds) != {"document"}:
            raise bad("document can't be mixed with other media types")
        for item in items:
            if item.get("type") not in ("photo", "video", "document", "audio"):
                raise bad(f"can't parse InputMedia: type \"{item.get('type')}\" can't be used in sendMediaGroup")
            if isinstance(item.get("media"), str) and item["media"].startswith("attach://"):
                raise bad("can't parse InputMedia: media not found")
        contents = [{**self._media(i["type"], i.get("media"), i), **self._caption(i)} for i in items]
        group = {"media_group_id": str(next(_album_ids))} if len(contents) > 1 else {}  # one item: no album
        return [self._new_message(chat, p, {**c, **group}, markup=False) for c in contents]

    def api_sendChatAction(self, p):
        self._chat(p)
        return True

    # ---- editing -------------------------------------------------------------------------------------
    def api_editMessageText(self, p):
        msg = self._target(p)
        text, entities = format_text(p.get("text"), p.get("parse_mode"), p.get("entities"), 4096, "message")
        if not text:
            raise bad("message text is empty")
        if msg is not None and "text" not in msg:
            raise bad("there is no text in the message to edit")
        return self._edit(msg, {"text": text, "entities": entities}, p)

    def api_editMessageCaption(self, p):
        msg = self._target(p)
        if msg is not None and not any(k in msg for k in MEDIA_KINDS):
            raise bad("there is no caption in the message to edit")
        caption = self._caption(p)
        return self._edit(
            msg, {"caption": caption.get("caption"), "caption_entities": caption.get("caption_entities")}, p
        )

    def api_editMessageReplyMarkup(self, p):
        return self._edit(self._target(p), {}, p)

    def api_editMessageMedia(self, p):
        msg = self._target(p)
        media = p.get("media") or {}
        kind = media.get("type")
        if kind not in MEDIA_KINDS:
            raise bad("can't parse InputMedia: media not found")
        content = {**self._media(kind, media.get("media"), media), **self._caption(media)}
        if msg is not None:
            for key in (*MEDIA_KINDS, "caption", "caption_entities"):
                content.setdefault(key, None)
        return self._edit(msg, content, p)

    def api_deleteMessage(self, p):
        chat = self._chat(p)
        if self.messages.pop((chat["id"], int(p.get("message_id") or 0)), None) is None:
            raise bad("message to delete not found")
        return True

    def api_deleteMessages(self, p):
        chat = self._chat(p)
        for mid in p.get("message_ids") or []:
            self.messages.pop((chat["id"], int(mid)), None)
        return True

    # ---- callbacks and files -------------------------------------------------------------------------
    def api_answerCallbackQuery(self, p):
        query = self.callback_queries.get(str(p.get("callback_query_id")))
        too_late = self.callback_answer_timeout is not None and query is not None
        if too_late:
            too_late = time.monotonic() - query["created"] > self.callback_answer_timeout
        if query is None or query["answer"] is not None or too_late:
            raise ApiError(400, QUERY_TOO_OLD)
        query["answer"] = {k: v for k, v in p.items() if k != "callback_query_id"}
        return True

    def api_getFile(self, p):
        f = self.files.by_id.get(str(p.get("file_id")))
        if f is None:
            raise bad("invalid file_id")
        if f.size > DOWNLOAD_LIMIT:
            raise ApiError(400, FILE_TOO_BIG)
        return {**f.ref(), "file_path": f.file_path}
