"""A user's picture as it arrives: downloaded from Telegram once, checked at once (so a bad file is explained
before any button is pressed), kept clean under its file id for the request that uses it."""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot

from engine.api import BadImage

from . import files
from .storage import Store

log = logging.getLogger(__name__)
# Decoding a user's file takes up to ~40 MP x a few bytes a pixel: a few at a time bound the bot's memory.
DECODES_AT_ONCE = 2


class PictureUnusable(Exception):
    """A picture cannot be had or used; `key` is the locale key of the reason to show."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class PictureRefused(PictureUnusable):
    """The file is not a picture the engine can use (corrupt, a bomb, too small, too narrow...)."""


class Intake:
    def __init__(self, bot: Bot, store: Store) -> None:
        self.bot = bot
        self.store = store
        self._decoding = asyncio.Semaphore(DECODES_AT_ONCE)

    async def take(self, file_id: str) -> bytes:
        """The clean copy of a user's file (raises PictureUnusable): downloaded once, decoded once."""
        kept = await self.store.get_blob(file_id, "in")
        if kept is not None:
            return kept
        try:
            data = await files.download(self.bot, file_id)
        except files.TooLarge:
            raise PictureUnusable("document-too-large") from None
        except files.DownloadFailed as error:
            log.warning("download of %s failed: %s", file_id, error)
            raise PictureUnusable("download-failed") from None
        try:
            async with self._decoding:
                clean = await asyncio.to_thread(files.clean_picture, data)
        except BadImage as error:
            log.info("picture %s refused: %s", file_id, error)
            raise PictureRefused(f"error-{error.code}") from None
        except Exception:  # a decoder failing in a way nobody expected: still a file we cannot read
            log.exception("picture %s could not be decoded", file_id)
            raise PictureRefused("error-bad_image") from None
        await self.store.put_blob(file_id, "in", clean)
        return clean
