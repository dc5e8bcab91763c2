"""Users' pictures from Telegram: which file to take, which to refuse before downloading, and the download."""

from __future__ import annotations

import io
from collections.abc import Sequence

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import Document, PhotoSize

from .telegram import retrying

DOWNLOAD_LIMIT = 20 * 1024 * 1024  # getFile refuses bigger files
IMAGE_TYPES = {"image/png", "image/jpeg", "image/jpg", "image/webp", "image/heic", "image/heif"}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".heic", ".heif")


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
    """ok | too_large | not_image — decided from the metadata, before any download."""
    if (document.file_size or 0) > DOWNLOAD_LIMIT:
        return "too_large"
    mime = (document.mime_type or "").lower()
    name = (document.file_name or "").lower()
    if mime in IMAGE_TYPES or name.endswith(IMAGE_SUFFIXES):
        return "ok"
    return "not_image"


async def download(bot: Bot, file_id: str) -> bytes:
    try:
        file = await retrying(lambda: bot.get_file(file_id), "getFile")
    except TelegramBadRequest as error:
        if "too big" in error.message:
            raise TooLarge(error.message) from None
        raise DownloadFailed(error.message) from None
    if (file.file_size or 0) > DOWNLOAD_LIMIT:
        raise TooLarge(f"{file.file_size} bytes")
    if not file.file_path:
        raise DownloadFailed("no file path")
    try:
        buffer = await retrying(lambda: bot.download_file(file.file_path), "download")
    except Exception as error:
        raise DownloadFailed(str(error)) from None
    if not isinstance(buffer, io.BytesIO):
        raise DownloadFailed("empty download")
    return buffer.getvalue()
