"""Bot API objects as Telegram sends them: files, photo sizes, errors, HTML text."""

from __future__ import annotations

import html
import io
import itertools
import mimetypes
import re
from dataclasses import dataclass

from PIL import Image

MB = 1024 * 1024
DOWNLOAD_LIMIT = 20 * MB  # getFile refuses bigger files
PHOTO_LIMIT = 10 * MB
UPLOAD_LIMIT = 50 * MB

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
FILE_TOO_BIG = "Bad Request: file is too big"


class ApiError(Exception):
    """Raised by method handlers; becomes Telegram's error JSON."""

    def __init__(self, code: int, description: str, **parameters) -> None:
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters

    def body(self) -> dict:
        body = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


@dataclass
class Upload:
    """A multipart part that a parameter referred to with attach://name (or directly)."""

    data: bytes
    filename: str

    def __repr__(self) -> str:
        return f"Upload({self.filename!r}, {len(self.data)} bytes)"


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    data: bytes
    size: int
    file_path: str
    file_name: str | None = None
    mime_type: str | None = None

    def ref(self) -> dict:
        return {"file_id": self.file_id, "file_unique_id": self.file_unique_id, "file_size": self.size}


class FileStore:
    """Every file either side uploaded, by file_id and by download path."""

    def __init__(self) -> None:
        self.by_id: dict[str, StoredFile] = {}
        self.by_path: dict[str, StoredFile] = {}
        self.photo_sets: dict[str, list[dict]] = {}  # any size's file_id -> the photo's PhotoSize list
        self._ids = itertools.count(1)

    def add(
        self,
        data: bytes,
        kind: str = "documents",
        file_name: str | None = None,
        mime_type: str | None = None,
        declared_size: int | None = None,
    ) -> StoredFile:
        n = next(self._ids)
        ext = (file_name or "").rpartition(".")[2] if file_name and "." in file_name else "bin"
        if kind == "photos":
            ext = image_format(data) or "jpg"
        if mime_type is None and file_name:
            mime_type = mimetypes.guess_type(file_name)[0]
        f = StoredFile(
            file_id=f"AgAD{kind[:3]}{n:05d}fake",
            file_unique_id=f"AQAD{n:05d}",
            data=data,
            size=declared_size if declared_size is not None else len(data),
            file_path=f"{kind}/file_{n}.{ext}",
            file_name=file_name,
            mime_type=mime_type,
        )
        self.by_id[f.file_id] = f
        self.by_path[f.file_path] = f
        return f


def image_format(data: bytes) -> str | None:
    try:
        with Image.open(io.BytesIO(data)) as im:
            return {"JPEG": "jpg"}.get(im.format, (im.format or "").lower()) or None
    except Exception:
        return None


def open_image(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def to_jpeg(im: Image.Image, max_side: int | None = None, quality: int = 90) -> bytes:
    im = im.convert("RGB")
    if max_side and max(im.size) > max_side:
        im.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def photo_sizes(store: FileStore, data: bytes, user: bool = False) -> list[dict]:
    """PhotoSize list, smallest first: a real <=90 px thumbnail (if the picture is bigger) and the full size.

    For the bot's uploads the full size keeps the uploaded bytes and sendPhoto's limits are checked
    (ApiError); a ``user``'s photo is stored as JPEG, as Telegram delivers photos.
    """
    try:
        im = open_image(data)
    except Exception:
        raise bad("IMAGE_PROCESS_FAILED") from None
    w, h = im.size
    if not user and (w + h > 10000 or max(w, h) > 20 * min(w, h)):
        raise bad("PHOTO_INVALID_DIMENSIONS")
    if not user and len(data) > PHOTO_LIMIT:
        raise bad("PHOTO_SAVE_FILE_INVALID")
    full = to_jpeg(im) if user and im.format != "JPEG" else data
    variants = [to_jpeg(im, 90)] if max(w, h) > 90 else []
    variants.append(full)
    sizes = []
    for blob in variants:
        f = store.add(blob, "photos")
        with Image.open(io.BytesIO(blob)) as v:
            sizes.append({**f.ref(), "width": v.width, "height": v.height})
    for size in sizes:
        store.photo_sets[size["file_id"]] = sizes
    return sizes


# --- HTML parse_mode -------------------------------------------------------------------------------------

_ENTITY_OF = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline", "ins": "underline",
    "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough", "code": "code", "pre": "pre",
    "a": "text_link", "tg-spoiler": "spoiler", "span": "spoiler", "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}  # fmt: skip
_TAG = re.compile(r"<(/?)([a-zA-Z][\w-]*)((?:\s[^<>]*)?)>")
_REF = re.compile(r"&(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")
_HREF = re.compile(r"""href\s*=\s*["']([^"']*)["']""")
_LANG = re.compile(r"""class\s*=\s*["']language-([^"']*)["']""")


def utf16_len(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def _entity(name: str, attrs: str, start: int, end: int, entities: list[dict]) -> dict:
    """The entity a closed tag makes (a <pre> around a <code class=...> takes the code's language from it)."""
    entity = {"type": _ENTITY_OF[name], "offset": start, "length": end - start}
    if name == "a" and (href := _HREF.search(attrs)):
        entity["url"] = html.unescape(href.group(1))
    if name == "pre" and entities and entities[-1].get("_code") == (start, end):
        entity.update(language=entities.pop()["_code_language"])  # <pre><code class=...>
    if name == "code" and (lang := _LANG.search(attrs)):
        entity.update(_code=(start, end), _code_language=lang.group(1))
    return entity


def parse_html(src: str) -> tuple[str, list[dict]]:
    """Text and entities Telegram makes of an HTML-formatted string; ApiError where Telegram refuses it."""
    out: list[str] = []
    pos = 0  # in UTF-16 code units, as Telegram counts offsets
    stack: list[tuple[str, int, str]] = []
    entities: list[dict] = []
    i = 0

    def fail(why: str) -> ApiError:
        return bad(f"can't parse entities: {why}")

    while i < len(src):
        ch = src[i]
        if ch == "<":
            m = _TAG.match(src, i)
            offset = len(src[:i].encode())
            if not m:
                raise fail(f'Unsupported start tag "{src[i + 1 : i + 10].split(">")[0]}" at byte offset {offset}')
            closing, name, attrs = m.group(1), m.group(2).lower(), m.group(3)
            if not closing:
                if name not in _ENTITY_OF:
                    raise fail(f'Unsupported start tag "{name}" at byte offset {offset}')
                stack.append((name, pos, attrs))
            else:
                if not stack:
                    raise fail(f"Unexpected end tag at byte offset {offset}")
                open_name, start, open_attrs = stack.pop()
                if open_name != name:
                    raise fail(
                        f'Unmatched end tag at byte offset {offset}, expected "</{open_name}>", found "</{name}>"'
                    )
                if pos > start:
                    entities.append(_entity(name, open_attrs, start, pos, entities))
            i = m.end()
            continue
        if ch == "&" and (m := _REF.match(src, i)):
            ch = html.unescape(m.group(0))
            i = m.end()
        else:
            i += 1
        out.append(ch)
        pos += utf16_len(ch)
    if stack:
        raise fail(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities = [{k: v for k, v in e.items() if not k.startswith("_")} for e in entities]
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def format_text(text: str | None, parse_mode: str | None, entities: list | None, limit: int, what: str):
    """(text, entities) as stored in a Message; ``what`` is "message" or "caption"."""
    if not text:
        return None, None
    if (parse_mode or "").lower() == "html":
        text, entities = parse_html(text)
    if utf16_len(text) > limit:
        raise bad("message is too long" if what == "message" else "message caption is too long")
    return text, (entities or None)
