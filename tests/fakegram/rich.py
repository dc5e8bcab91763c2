"""Bot API 10.2/10.3 in the fake: sendRichMessage (blocks: collage, photo, paragraph) and ephemeral messages.

Modelled strictly from aiogram's own models (aiogram.methods.SendRichMessage, aiogram.types.InputRichMessage,
EphemeralMessageParameters): a request must validate against them, with no field they do not name (aiogram's
models allow extras; Telegram refuses unknown fields in these objects), and exactly one of a rich message's
html / markdown / blocks. What the fake answers is a Message with `rich_message` as aiogram's RichMessage reads it.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from aiogram.methods import SendRichMessage
from aiogram.types import EphemeralMessageParameters
from pydantic import BaseModel, ValidationError

from .objects import Upload, bad, photo_sizes

_ephemeral_ids = itertools.count(1)
BLOCKS_MODELLED = {"collage", "photo", "paragraph"}


def _as_sent(value: Any) -> Any:
    """Uploaded parts as aiogram sends them ("attach://…"), so that the request validates as aiogram's model."""
    if isinstance(value, Upload):
        return "attach://upload"
    if isinstance(value, list):
        return [_as_sent(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_sent(v) for k, v in value.items()}
    return value


def _no_extras(model: Any, where: str) -> None:
    if isinstance(model, BaseModel):
        if model.model_extra:
            raise bad(f"{where}: unknown field(s) {sorted(model.model_extra)}")
        for name in type(model).model_fields:
            _no_extras(getattr(model, name), f"{where}.{name}")
    elif isinstance(model, list):
        for n, item in enumerate(model):
            _no_extras(item, f"{where}[{n}]")


def strict(model: type[BaseModel], data: dict, where: str) -> BaseModel:
    """`data` validated as aiogram's `model`, refused (400) on any error or unknown field."""
    try:
        parsed = model.model_validate(_as_sent(data))
    except ValidationError as error:
        raise bad(f"can't parse {where}: {error.errors()[0]['msg']} at {error.errors()[0]['loc']}") from None
    _no_extras(parsed, where)
    return parsed


class RichMethods:
    """Mixed into FakeTelegram (uses its chats, files and message store)."""

    ephemerals: list[dict]

    def _ephemeral(self, chat: dict, p: dict, content: dict) -> dict | None:
        """An ephemeral message (EphemeralMessageParameters): seen by one user only, so kept apart from the chat's
        history; its message_id is 0 (Bot API 10.2). None when the send is not ephemeral."""
        raw = p.get("ephemeral_message_parameters")
        if raw is None:
            return None
        parameters = strict(EphemeralMessageParameters, raw, "ephemeral_message_parameters")
        if chat["type"] not in ("group", "supergroup"):
            raise bad("fakegram: ephemeral messages are for groups (the only place a message is seen by others)")
        receiver = parameters.receiver_user_id  # type: ignore[attr-defined]
        msg = {
            "message_id": 0,
            "ephemeral_message_id": next(_ephemeral_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": self.me,  # type: ignore[attr-defined]
            "receiver_user": {"id": receiver, "is_bot": False, "first_name": "User"},
            **content,
        }
        self.ephemerals.append(msg)
        return msg

    def api_sendRichMessage(self, p: dict):
        chat = self._chat(p)  # type: ignore[attr-defined]
        method = strict(SendRichMessage, p, "sendRichMessage")
        rich = method.rich_message  # type: ignore[attr-defined]
        if sum(part is not None for part in (rich.html, rich.markdown, rich.blocks)) != 1:
            raise bad("exactly one of rich_message.html, markdown or blocks must be given")
        if rich.blocks is None:
            raise bad("fakegram: only rich messages made of blocks are modelled")
        blocks = [
            self._rich_block(block, raw) for block, raw in zip(rich.blocks, p["rich_message"]["blocks"], strict=True)
        ]
        content = {"rich_message": {"blocks": blocks}}
        return self._new_message(chat, p, content)  # type: ignore[attr-defined]  # (an ephemeral one too)

    def _rich_block(self, block: Any, raw: dict) -> dict:
        """The RichBlock a sent InputRichBlock becomes (its photos stored as a photo's sizes)."""
        kind = block.type
        if kind not in BLOCKS_MODELLED:
            raise bad(f"fakegram: rich block {kind!r} is not modelled")
        if kind == "paragraph":
            return {"type": "paragraph", "text": raw["text"]}
        if kind == "photo":
            media = raw["photo"].get("media")
            if not isinstance(media, Upload):
                raise bad("fakegram: a rich photo must be uploaded here")
            return {"type": "photo", "photo": photo_sizes(self.files, media.data)}  # type: ignore[attr-defined]
        inner = [self._rich_block(b, r) for b, r in zip(block.blocks, raw["blocks"], strict=True)]
        if len(inner) < 2 or any(b["type"] != "photo" for b in inner):
            raise bad("fakegram: a collage here holds two or more photos")
        return {"type": "collage", "blocks": inner}


def rich_text(value: Any) -> str:
    """The plain text of a RichText value (a string, a list, or a formatted piece holding `text`)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(rich_text(v) for v in value)
    if isinstance(value, dict):
        return rich_text(value.get("text", ""))
    return ""


def rich_photos(blocks: list[dict]) -> list[dict]:
    """The photos of a rich message's blocks, in order (each the largest size)."""
    found = []
    for block in blocks:
        if block.get("type") == "photo":
            found.append(block["photo"][-1])
        elif block.get("type") == "collage":
            found.extend(rich_photos(block["blocks"]))
    return found
