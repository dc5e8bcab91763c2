"""Last resort: an unexpected error is logged with its update, and the user gets a short apology."""

from __future__ import annotations

import contextlib
import logging

from aiogram import Router
from aiogram.types import ErrorEvent

from bot import screens
from bot.telegram import answer

router = Router(name="errors")
log = logging.getLogger(__name__)


@router.errors()
async def on_error(event: ErrorEvent, **data) -> None:
    update = event.update
    log.error("update %s failed", update.update_id, exc_info=event.exception)
    texts = data.get("texts")
    if texts is None:
        return
    with contextlib.suppress(Exception):
        if update.callback_query is not None:
            await answer(update.callback_query, texts.plain("error-internal"), alert=True)
        elif update.message is not None:
            await update.message.reply(screens.error_text(texts, "internal"))
