"""Last resorts: a button no handler knows (stale or forged data) is answered quietly; an unexpected error is
logged with its update, and the user gets a short apology."""

from __future__ import annotations

import contextlib
import logging

from aiogram import Router
from aiogram.types import CallbackQuery, ErrorEvent

from bot import screens
from bot.storage import storage_down
from bot.telegram import answer

router = Router(name="errors")
log = logging.getLogger(__name__)


@router.callback_query()
async def unknown_button(query: CallbackQuery, **data) -> None:
    """Telegram shows a spinner until a press is answered: a button from an older version of the bot, or made
    up, still gets an answer (the same words as for an expired request), and nothing else happens."""
    texts = data.get("texts")
    await answer(query, texts.plain("expired") if texts is not None else None)


@router.errors()
async def on_error(event: ErrorEvent, **data) -> None:
    update = event.update
    code = "storage" if storage_down(event.exception) else "internal"
    if code == "storage":  # an outage, not a bug: one line, no traceback
        log.warning("update %s failed: storage is not answering (%s)", update.update_id, event.exception)
    else:
        log.error("update %s failed", update.update_id, exc_info=event.exception)
    texts = data.get("texts")
    translator = data.get("translator")
    if texts is None and translator is not None:  # it failed before the locale was known (storage down)
        user = data.get("event_from_user")
        texts = translator[translator.resolve(None, user.language_code if user else None)]
    if texts is None:
        return
    with contextlib.suppress(Exception):
        if update.callback_query is not None:
            await answer(update.callback_query, texts.plain(f"error-{code}"), alert=True)
        elif update.message is not None and update.message.from_user is not None and "delivery" in data:
            # In a group, seen by its sender only where the server speaks Bot API 10.2 (EPHEMERAL_MESSAGES).
            await data["delivery"].tell(update.message, update.message.from_user.id, screens.error_text(texts, code))
        elif update.message is not None:
            await update.message.reply(screens.error_text(texts, code))
