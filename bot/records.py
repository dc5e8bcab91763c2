"""The bot's data model: a request (JobRecord) with its state and kind, the pictures it made, a user's Prefs.

A record is what a button needs later: what was asked, in which chat, by whom, and what came out. It is
plain data, saved as JSON by bot/storage.py; pictures' bytes are kept beside it, never inside.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any

from engine.api import Mode


class Kind(StrEnum):
    """What a record stands for."""

    REQUEST = "request"  # a request for pictures (mode says which)
    PHOTO = "photo"  # the choices shown under one photo of the user's
    PAIR = "pair"  # the choices shown under two photos of the user's (a mix)
    PROMPT = "prompt"  # a prompt offered to draw (/describe): each tap drafts a request from it


class State(StrEnum):
    DRAFT = "draft"  # its style screen is shown; nothing submitted yet
    CLOSED = "closed"  # the user closed the style screen
    SUBMITTED = "submitted"  # in the engine's line or running
    DONE = "done"  # delivered; its buttons work
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass
class Prefs:
    locale: str | None = None  # None = follow Telegram's language_code
    style: str | None = None  # None = the engine's default style
    aspect: str = "1:1"
    count: int = 4
    beautify: bool = False
    # With a default style chosen, a prompt is drawn at once in it; True: the style screen comes every time.
    ask_style: bool = False
    preview: bool = True  # the status message shows the picture forming while it is drawn


@dataclass
class PictureRecord:
    """One picture of a finished request (its bytes are kept under the name "pic<n>")."""

    seed: int
    width: int
    height: int
    file_format: str = "png"


@dataclass
class JobRecord:
    id: str
    owner: int
    chat_id: int
    kind: Kind = Kind.REQUEST
    mode: Mode = Mode.GENERATE
    prompt: str = ""
    style: str | None = None
    aspect: str = "1:1"  # "" = follow the source picture
    count: int = 4
    seed: int | None = None
    beautify: bool = False
    variation: str = "subtle"
    zoom: float = 1.0  # ZOOM: 1 = extend to the new aspect only; 1.5 / 2 = zoom out further
    weights: list[float] = field(default_factory=list)
    source_file_ids: list[str] = field(default_factory=list)  # the user's files in the messenger, fetched when used
    source_count: int = 0  # source pictures kept as "src<n>"
    state: State = State.DRAFT
    engine_job: str = ""
    pictures: list[PictureRecord] = field(default_factory=list)
    result_style: str = ""
    page: int = 0  # the style page shown on a draft
    message_id: int = 0  # the draft/status message
    album_id: int = 0  # the album's first message, once sent: a restart never sends it twice
    # A derived request: the request and picture it starts from, and that picture's seed (see engine.api.Origin).
    origin_job: str = ""
    origin_picture: int = 0
    origin_seed: int | None = None
    instruction: str = ""  # EDIT / INPAINT: what the user asked to change (an INPAINT's mask is the blob "mask")
    thread_id: int | None = None
    locale: str = "en"
    created: float = field(default_factory=time.time)
    # Midjourney-style parameters typed after the prompt (bot/params.py): what to leave out, the fast profile, and
    # all of them as typed, for the caption.
    negative: str = ""
    fast: bool = False
    params: str = ""
    # What the engine made of the request (the ℹ screen): the prompt the model saw and its negative prompt.
    final_prompt: str = ""
    final_negative: str = ""
    favourite: bool = False  # ⭐: kept for FAVOURITE_KEEP_S instead of the usual TTL (bot/storage.py)
    preview: bool = False  # its status shows the picture forming (the owner's setting when it was made)
    status_photo: bool = False  # the status message became a photo (the live preview): edits change its caption
    rich: bool = False  # delivered as one rich message, pictures and buttons together (album_id is that message)
    tags: list[str] = field(default_factory=list)  # prompt tags toggled on (engine.styles.Tag ids)

    def seed_of(self, picture: int) -> int | None:
        """The seed of picture `picture` (1-based), if it made that many."""
        return self.pictures[picture - 1].seed if 1 <= picture <= len(self.pictures) else None

    @property
    def first_seed(self) -> int | None:
        """The seed of the first picture made, else the one asked for."""
        return self.pictures[0].seed if self.pictures else self.seed

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str | bytes) -> JobRecord:
        data = _upgrade(json.loads(raw))
        known = {f.name for f in fields(cls)}
        data = {key: value for key, value in data.items() if key in known}
        data["pictures"] = [PictureRecord(**picture) for picture in data.get("pictures", [])]
        data["kind"] = Kind(data.get("kind", Kind.REQUEST))
        data["mode"] = Mode(data.get("mode", Mode.GENERATE))
        data["state"] = State(data.get("state", State.DRAFT))
        return cls(**data)


def _upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """Records saved by the version before this one (they live a week in Redis) read as today's."""
    if data.get("mode") in (Kind.PHOTO, Kind.PAIR):
        data["kind"], data["mode"] = data["mode"], Mode.GENERATE
    if "source_files" in data:
        data.setdefault("source_file_ids", data.pop("source_files"))
    if isinstance(data.get("sources"), int):
        data.setdefault("source_count", data.pop("sources"))
    return data


def new_job_id() -> str:
    return secrets.token_urlsafe(6)  # 8 characters of [A-Za-z0-9_-]


def prefs_from_json(raw: str | bytes | None) -> Prefs:
    if not raw:
        return Prefs()
    known = {f.name for f in fields(Prefs)}
    return Prefs(**{key: value for key, value in json.loads(raw).items() if key in known})


def prefs_to_json(prefs: Prefs) -> str:
    return json.dumps(asdict(prefs))
