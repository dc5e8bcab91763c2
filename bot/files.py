"""Users' pictures from Telegram: which file to take, which to refuse before downloading, the download, and
the check on arrival (decoded within the engine's pixel bounds, stored clean: EXIF rotation applied, EXIF dropped).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import Document, PhotoSize

from engine import clean_picture  # noqa: F401 - the check on arrival, re-exported (PIL only: no torch here)

from .telegram import download_retrying

DOWNLOAD_LIMIT = 20 * 1024 * 1024  # getFile refuses bigger files
# Worth a download: anything that says it is a picture, or does not say what it is (the bytes decide).
IMAGE_SUFFIXES = (
    ".png", ".jpg", ".jpeg", ".jfif", ".webp", ".heic", ".heif", ".avif", ".gif", ".bmp", ".tif", ".tiff",
)  # fmt: skip
UNTYPED = {"", "application/octet-stream"}
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".webm", ".avi", ".mkv", ".3gp")


class TooLarge(Exception):
    """The file is over Telegram's 20 MB download limit."""


class DownloadFailed(Exception):
    """Telegram did not give us the file."""


def best_photo(sizes: Sequence[PhotoSize]) -> str | None:
    """The file id of the largest size that can be downloaded (≤ 20 MB), or None."""
    fitting = [size for size in sizes if (size.file_size or 0) <= DOWNLOAD_LIMIT]
    if not fitting:
        return None
    return max(fitting, key=lambda size: size.width * size.height).file_id


def document_verdict(document: Document) -> str:
    """ok | too_large | video | not_image — decided from the metadata, before any download."""
    if (document.file_size or 0) > DOWNLOAD_LIMIT:
        return "too_large"
    mime = (document.mime_type or "").lower()
    name = (document.file_name or "").lower()
    if mime.startswith("image/") or name.endswith(IMAGE_SUFFIXES):
        return "ok"
    if mime.startswith("video/") or name.endswith(VIDEO_SUFFIXES):
        return "video"
    return "ok" if mime in UNTYPED else "not_image"


def refusal_key(verdict: str) -> str:
    """The locale key that explains a document_verdict other than ok."""
    return {"too_large": "document-too-large", "video": "video-refused"}.get(verdict, "document-refused")


async def download(bot: Bot, file_id: str) -> bytes:
    try:
        file = await bot.get_file(file_id)
    except TelegramBadRequest as error:
        if "too big" in error.message:
            raise TooLarge(error.message) from None
        raise DownloadFailed(error.message) from None
    if (file.file_size or 0) > DOWNLOAD_LIMIT:
        raise TooLarge(f"{file.file_size} bytes")
    path = file.file_path
    if not path:
        raise DownloadFailed("no file path")
    try:
        buffer = await download_retrying(lambda: bot.download_file(path), "download")
    except Exception as error:
        raise DownloadFailed(str(error)) from None
    if not isinstance(buffer, io.BytesIO):
        raise DownloadFailed("empty download")
    return buffer.getvalue()
