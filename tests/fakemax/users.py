"""MaxUser: a scripted MAX user in a dialog with the bot; Sent: what the bot sent, tidied for assertions."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from .server import Call, FakeMax


@dataclass
class Sent:
    """One successful POST /messages of the bot (or a PUT, for an edit: `message` is then the edited one)."""

    call: Call
    message: dict

    @property
    def mid(self) -> str:
        return self.message["body"]["mid"]

    @property
    def text(self) -> str:
        return self.message["body"].get("text") or ""

    @property
    def attachments(self) -> list[dict]:
        return self.message["body"].get("attachments") or []

    @property
    def buttons(self) -> list[list[tuple[str, str]]]:
        for a in self.attachments:
            if a["type"] == "inline_keyboard":
                return [[(b["text"], b.get("payload", "")) for b in row] for row in a["payload"]["buttons"]]
        return []

    @property
    def labels(self) -> list[str]:
        return [text for row in self.buttons for text, _ in row]

    @property
    def images(self) -> list[dict]:
        return [a for a in self.attachments if a["type"] == "image"]

    @property
    def files(self) -> list[dict]:
        return [a for a in self.attachments if a["type"] == "file"]

    @property
    def reply_to(self) -> str | None:
        link = self.message.get("link") or {}
        return link["message"]["mid"] if link.get("type") == "reply" else None


class MaxUser:
    def __init__(self, fake: FakeMax, user_id: int, name: str = "Alice", locale: str | None = "en-US") -> None:
        self.fake, self.locale = fake, locale
        self.user = {"user_id": user_id, "first_name": name, "username": None, "is_bot": False,
                     "last_activity_time": int(time.time() * 1000), "name": name}  # fmt: skip
        # A dialog's chat id is not the user's id (the bot must answer in the chat, not to the user id).
        self.chat_id = 7_000_000_000 + user_id
        fake.chats[self.chat_id] = {"user": self.user}
        self.cursor = len(fake.calls)

    def mark(self) -> int:
        self.cursor = len(self.fake.calls)
        return self.cursor

    # ---- what the user does -----------------------------------------------------------------------------
    async def _send(self, text: str = "", attachments: list[dict] | None = None) -> dict:
        mid = self.fake.new_mid()
        message = {
            "sender": self.user,
            "recipient": {"chat_id": self.chat_id, "chat_type": "dialog", "user_id": self.fake.me["user_id"]},
            "timestamp": int(time.time() * 1000),
            "body": {"mid": mid, "seq": self.fake.next_id(), "text": text, "attachments": attachments or []},
        }
        self.fake.messages[mid] = message
        update = {"update_type": "message_created", "message": message}
        if self.locale:
            update["user_locale"] = self.locale
        await self.fake.push(update)
        return message

    async def start(self) -> None:
        """Presses "Start" in a new dialog with the bot."""
        await self.fake.push({"update_type": "bot_started", "chat_id": self.chat_id, "user": self.user,
                              "user_locale": self.locale or "en"})  # fmt: skip

    async def send_text(self, text: str) -> dict:
        return await self._send(text)

    async def send_photos(self, *images: bytes, caption: str = "") -> dict:
        """One message with every image (MAX has no albums: a message carries several images)."""
        attachments = [
            {
                "type": "image",
                "payload": {
                    "photo_id": self.fake.next_id(),
                    "token": f"in{self.fake.next_id()}",
                    "url": self.fake.add_file(data),
                },
            }
            for data in images
        ]
        return await self._send(caption, attachments)

    async def press(self, message: Sent | dict, label: str) -> str:
        mid = message.mid if isinstance(message, Sent) else message["body"]["mid"]
        current = self.fake.messages.get(mid)
        assert current is not None, f"message {mid} is gone"
        buttons = Sent(Call(0, "", "", {}, None, 0), current).buttons
        found = [payload for row in buttons for text, payload in row if label in text]
        assert found, f"no button {label!r} on {mid}: {buttons}"
        callback_id = f"cb{self.fake.next_id()}"
        self.fake.callbacks[callback_id] = {"answers": [], "payload": found[0]}
        callback = {"timestamp": int(time.time() * 1000), "callback_id": callback_id, "payload": found[0],
                    "user": self.user}  # fmt: skip
        update = {"update_type": "message_callback", "callback": callback, "message": current}
        if self.locale:
            update["user_locale"] = self.locale
        await self.fake.push(update)
        return callback_id

    def answers_to(self, callback_id: str) -> list[dict]:
        return self.fake.callbacks[callback_id]["answers"]

    # ---- waiting for the bot ----------------------------------------------------------------------------
    def _mine(self, call: Call) -> bool:
        if call.route == "POST /messages":
            return call.ok and call.response["message"]["recipient"]["chat_id"] == self.chat_id
        if call.route == "PUT /messages":
            message = self.fake.messages.get(call.query.get("message_id", ""))
            return call.ok and message is not None and message["recipient"]["chat_id"] == self.chat_id
        return False

    async def next_message(self, predicate: Callable[[Sent], bool] | None = None, timeout: float = 60) -> Sent:  # noqa: ASYNC109
        """The bot's next message to this user after the cursor (which then moves past it)."""

        def matches(call: Call) -> bool:
            if call.route != "POST /messages" or not self._mine(call):
                return False
            return predicate is None or predicate(Sent(call, call.response["message"]))

        call = await self.fake.wait_for(matches, after=self.cursor, timeout=timeout)
        self.cursor = call.index + 1
        return Sent(call, call.response["message"])

    async def next_edit(self, predicate: Callable[[Sent], bool] | None = None, timeout: float = 60) -> Sent:  # noqa: ASYNC109
        def matches(call: Call) -> bool:
            if call.route != "PUT /messages" or not self._mine(call):
                return False
            return predicate is None or predicate(self._edited(call))

        call = await self.fake.wait_for(matches, after=self.cursor, timeout=timeout)
        self.cursor = call.index + 1
        return self._edited(call)

    def _edited(self, call: Call) -> Sent:
        message = self.fake.messages.get(call.query["message_id"]) or {"body": {"mid": call.query["message_id"]}}
        return Sent(call, {**message, "body": {**message["body"], "text": (call.body or {}).get("text") or ""}})

    def sent_to_me(self) -> list[Sent]:
        calls = [c for c in self.fake.calls if c.route == "POST /messages" and self._mine(c)]
        return [Sent(c, c.response["message"]) for c in calls]

    async def results(self, timeout: float = 90) -> tuple[Sent, Sent]:  # noqa: ASYNC109
        """The message with the pictures, then the one with the buttons replying to it (a status photo, the live
        preview with its Cancel button, is neither)."""
        pictures = await self.next_message(lambda m: bool(m.images) and not m.buttons, timeout)
        buttons = await self.next_message(lambda m: bool(m.buttons), timeout)
        assert buttons.reply_to == pictures.mid, "the buttons must reply to the pictures"
        return pictures, buttons

    def download(self, attachment: dict) -> bytes:
        return self.fake.files[attachment["payload"]["url"].rsplit("/", 1)[1]]
