"""Checks every button press makes first: the request still exists, and the presser owns it."""

from __future__ import annotations

from aiogram.types import CallbackQuery

from locales import Texts

from .storage import JobRecord, Store
from .telegram import answer


async def owned_record(query: CallbackQuery, store: Store, texts: Texts, job_id: str) -> JobRecord | None:
    """The record behind a button, or None after telling the presser why not (expired / not theirs)."""
    record = await store.get_job(job_id)
    if record is None:
        await answer(query, texts.plain("expired"), alert=True)
        return None
    if record.owner != query.from_user.id:
        await answer(query, texts.plain("not-yours"), alert=True)
        return None
    return record
