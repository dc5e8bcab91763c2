"""FakeUser: a scripted Telegram user, and BotMessage: what the bot sent, tidied for assertions."""

from __future__ import annotations

import copy
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .objects import photo_sizes, utf16_len
from .rich import rich_photos, rich_text
from .server import Call, FakeTelegram

SEND_METHODS = (
    "sendMessage", "sendPhoto", "sendDocument", "sendMediaGroup", "sendVideo", "sendAnimation",
    "sendAudio", "sendVoice", "sendSticker", "sendRichMessage",
)  # fmt: skip
EDIT_METHODS = ("editMessageText", "editMessageCaption", "editMessageReplyMarkup", "editMessageMedia")
_callback_ids = itertools.count(4_000_000_000_000_000_001)
_album_ids = itertools.count(14_000_000_000_000_000)


@dataclass
class BotMessage:
    """A successful send/edit call of the bot, with the bytes of what it sent."""

    call: Call
    method: str
    messages: list[dict]  # the Message objects returned (several for an album)
    text: str | None  # text, or caption of the first message
    buttons: list[list[tuple[str, str | None]]]  # inline keyboard rows of (text, callback_data)
    photos: list[bytes] = field(default_factory=list)  # full-size bytes of each photo
    document: bytes | None = None
    document_name: str | None = None

    @property
    def message(self) -> dict:
        return self.messages[0]

    @property
    def message_id(self) -> int:
        return self.messages[0]["message_id"]

    @property
    def chat_id(self) -> int:
        return self.messages[0]["chat"]["id"]

    @property
    def labels(self) -> list[str]:
        return [text for row in self.buttons for text, _ in row]

    @classmethod
    def of(cls, tg: FakeTelegram, call: Call) -> BotMessage:
        result = call.result
        messages = result if isinstance(result, list) else [result] if isinstance(result, dict) else []
        first = messages[0] if messages else {}
        photos = [tg.file(m["photo"][-1]["file_id"]).data for m in messages if m.get("photo")]
        text = first.get("text", first.get("caption"))
        if first.get("rich_message"):  # one message, pictures and text (sendRichMessage)
            blocks = first["rich_message"]["blocks"]
            photos = [tg.file(size["file_id"]).data for size in rich_photos(blocks)]
            text = "\n".join(rich_text(b["text"]) for b in blocks if b.get("type") == "paragraph")
        doc = first.get("document")
        return cls(
            call=call,
            method=call.method,
            messages=messages,
            text=text,
            buttons=buttons_of(first),
            photos=photos,
            document=tg.file(doc["file_id"]).data if doc else None,
            document_name=doc.get("file_name") if doc else None,
        )


def buttons_of(message: dict | None) -> list[list[tuple[str, str | None]]]:
    rows = ((message or {}).get("reply_markup") or {}).get("inline_keyboard") or []
    return [[(b["text"], b.get("callback_data")) for b in row] for row in rows]


class FakeUser:
    """A user who writes to the bot in a private chat (chat id = user id) or in ``chat`` (tg.group(...)).
    Every action queues an Update and returns the user's Message (a dict, as stored by the server)."""

    def __init__(
        self,
        tg: FakeTelegram,
        user_id: int,
        first_name: str = "Alice",
        language_code: str | None = "en",
        chat: dict | None = None,
        username: str | None = None,
    ):
        self.tg = tg
        self.user = {"id": user_id, "is_bot": False, "first_name": first_name}
        if language_code:
            self.user["language_code"] = language_code
        if username:
            self.user["username"] = username
        if chat is None:
            chat = {"id": user_id, "type": "private", "first_name": first_name}
            if username:
                chat["username"] = username
        self.chat = tg.add_chat(chat)
        self.cursor = len(tg.calls)

    @property
    def id(self) -> int:
        return self.user["id"]

    @property
    def chat_id(self) -> int:
        return self.chat["id"]

    # ---- sending -------------------------------------------------------------------------------------
    async def _send(self, content: dict, reply_to=None) -> dict:
        msg = self.tg.store_message(self.chat, self.user, content)
        if reply_to is not None:
            target = self.tg.message(self.chat_id, _message_id(reply_to))
            msg["reply_to_message"] = {k: v for k, v in (target or {}).items() if k != "reply_to_message"}
        await self.tg.push_update("message", msg)
        return msg

    async def send_text(self, text: str, entities: list | None = None, reply_to=None, mention: bool = False):
        """Send text; ``mention`` prefixes "@botusername " (with its mention entity), as in groups."""
        entities = list(entities or [])
        if mention:
            at = "@" + self.tg.me["username"]
            entities = [{"type": "mention", "offset": 0, "length": len(at)}] + [
                {**e, "offset": e["offset"] + len(at) + 1} for e in entities
            ]
            text = f"{at} {text}"
        return await self._send({"text": text, **({"entities": entities} if entities else {})}, reply_to)

    async def send_command(self, command: str, reply_to=None):
        """Send "/cmd args"; in a group the command is addressed as /cmd@botusername."""
        cmd, _, args = command.partition(" ")
        if self.chat["type"] != "private" and "@" not in cmd:
            cmd = f"{cmd}@{self.tg.me['username']}"
        text = f"{cmd} {args}" if args else cmd
        entity = {"type": "bot_command", "offset": 0, "length": utf16_len(cmd)}
        return await self._send({"text": text, "entities": [entity]}, reply_to)

    async def send_photo(self, data: bytes, caption: str | None = None, media_group_id: str | None = None,
                         reply_to=None):  # fmt: skip
        """Send a photo as Telegram delivers it: JPEG, a real thumbnail size and the full size."""
        content = {"photo": photo_sizes(self.tg.files, data, user=True)}
        if caption:
            content["caption"] = caption
        if media_group_id:
            content["media_group_id"] = media_group_id
        return await self._send(content, reply_to)

    async def send_album(self, photos: list[bytes], caption: str | None = None) -> list[dict]:
        """Send 2-10 photos as one album: separate messages sharing a media_group_id, caption on the first."""
        group_id = str(next(_album_ids))
        return [
            await self.send_photo(data, caption if i == 0 else None, media_group_id=group_id)
            for i, data in enumerate(photos)
        ]

    async def send_document(self, data: bytes, file_name: str = "file.bin", mime_type: str | None = None,
                            declared_size: int | None = None, caption: str | None = None):  # fmt: skip
        """Send a file; ``declared_size`` (e.g. 25 MB with few real bytes) makes getFile refuse it."""
        f = self.tg.files.add(data, "documents", file_name, mime_type, declared_size)
        document = {**f.ref(), "file_name": file_name}
        if f.mime_type:
            document["mime_type"] = f.mime_type
        return await self._send({"document": document, **({"caption": caption} if caption else {})})

    async def send_video(self, data: bytes = b"\0" * 64, duration: int = 3, width: int = 640, height: int = 360,
                         caption: str | None = None):  # fmt: skip
        f = self.tg.files.add(data, "videos", "video.mp4", "video/mp4")
        video = {**f.ref(), "width": width, "height": height, "duration": duration, "mime_type": "video/mp4"}
        return await self._send({"video": video, **({"caption": caption} if caption else {})})

    async def send_sticker(self, data: bytes = b"RIFF\0\0\0\0WEBP", emoji: str = "🙂"):
        f = self.tg.files.add(data, "stickers", "sticker.webp")
        sticker = {**f.ref(), "type": "regular", "width": 512, "height": 512, "is_animated": False,
                   "is_video": False, "emoji": emoji}  # fmt: skip
        return await self._send({"sticker": sticker})

    async def press(self, message, label: str) -> str:
        """Press the inline button whose text contains ``label`` on a bot message (its current markup);
        queues a callback_query update and returns the query id."""
        mid = _message_id(message)
        current = self.tg.message(self.chat_id, mid)
        if current is None:
            raise AssertionError(f"message {mid} is not in chat {self.chat_id} (deleted?)")
        matches = [b for row in buttons_of(current) for b in row if label in b[0]]
        if not matches:
            raise AssertionError(f"no button with {label!r} on message {mid}; buttons: {buttons_of(current)}")
        text, data = matches[0]
        if data is None:
            raise AssertionError(f"button {text!r} has no callback_data")
        query_id = str(next(_callback_ids))
        self.tg.callback_queries[query_id] = {"created": time.monotonic(), "answer": None, "data": data}
        query = {
            "id": query_id,
            "from": self.user,
            "chat_instance": str(abs(hash(("chat", self.chat_id)))),
            "message": copy.deepcopy(current),
            "data": data,
        }
        await self.tg.push_update("callback_query", query)
        return query_id

    async def block(self) -> None:
        """Block the bot: sends to this chat now fail with 403, and the bot gets a my_chat_member update."""
        self.tg.blocked.add(self.chat_id)
        bot = self.tg.me
        await self.tg.push_update(
            "my_chat_member",
            {
                "chat": self.chat,
                "from": self.user,
                "date": int(time.time()),
                "old_chat_member": {"status": "member", "user": bot},
                "new_chat_member": {"status": "kicked", "user": bot, "until_date": 0},
            },
        )

    def buttons(self, message) -> list[str]:
        """Labels of the inline buttons a bot message has now."""
        return [t for row in buttons_of(self.tg.message(self.chat_id, _message_id(message))) for t, _ in row]

    def answer_of(self, query_id: str) -> dict | None:
        """The answerCallbackQuery params (text, show_alert...) the bot gave to a press, if any."""
        return self.tg.callback_queries[query_id]["answer"]

    # ---- waiting for the bot -------------------------------------------------------------------------
    def mark(self) -> int:
        """Forget what the bot sent so far: next_* only look at calls made from now on."""
        self.cursor = len(self.tg.calls)
        return self.cursor

    async def next_message(
        self,
        predicate: Callable[[BotMessage], bool] | None = None,
        timeout: float = 30,  # noqa: ASYNC109
        methods: tuple[str, ...] = SEND_METHODS,
    ) -> BotMessage:
        """The next successful call of ``methods`` to this chat after the cursor (then moved past it)."""

        def match(call: Call) -> bool:
            if not call.ok or call.chat_id != self.chat_id:
                return False
            return predicate is None or predicate(BotMessage.of(self.tg, call))

        call = await self.tg.wait_for(methods, match, timeout=timeout, after=self.cursor)
        self.cursor = call.index + 1
        return BotMessage.of(self.tg, call)

    async def next_album(self, predicate=None, timeout: float = 30) -> BotMessage:  # noqa: ASYNC109
        return await self.next_message(predicate, timeout, ("sendMediaGroup",))

    async def next_document(self, predicate=None, timeout: float = 30) -> BotMessage:  # noqa: ASYNC109
        return await self.next_message(predicate, timeout, ("sendDocument",))

    async def next_photo(self, predicate=None, timeout: float = 30) -> BotMessage:  # noqa: ASYNC109
        return await self.next_message(predicate, timeout, ("sendPhoto",))

    async def next_edit(self, predicate=None, timeout: float = 30) -> BotMessage:  # noqa: ASYNC109
        return await self.next_message(predicate, timeout, EDIT_METHODS)

    def sent_to_me(self) -> list[BotMessage]:
        """Every successful send of the bot to this chat so far."""
        names = {m.lower() for m in SEND_METHODS}
        return [
            BotMessage.of(self.tg, c)
            for c in self.tg.calls
            if c.method.lower() in names and c.ok and c.chat_id == self.chat_id
        ]


def _message_id(message) -> int:
    if isinstance(message, int):
        return message
    if isinstance(message, BotMessage):
        return message.message_id
    return int(message["message_id"])
