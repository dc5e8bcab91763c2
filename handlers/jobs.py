"""/cancel (all of my requests in progress, and any question the bot asked) and the Cancel button."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.guards import owned_record
from bot.storage import Store
from bot.telegram import answer
from bot.workshop import Workshop
from keyboards.callbacks import JobCb
from locales import Texts

router = Router(name="jobs")


@router.message(Command("cancel"))
async def cancel_all(message: Message, state: FSMContext, texts: Texts, workshop: Workshop) -> None:
    await state.clear()
    cancelled = workshop.cancel_all(message.from_user.id)
    await message.reply(texts("cancel-done", count=cancelled) if cancelled else texts("cancel-nothing"))


@router.callback_query(JobCb.filter())
async def cancel_one(query: CallbackQuery, callback_data: JobCb, texts: Texts, store: Store, workshop: Workshop):
    record = await owned_record(query, store, texts, callback_data.job)
    if record is None:
        return
    # The status message itself turns into "Cancelled" when the engine confirms it.
    await answer(query, texts.plain("job-cancelling" if workshop.cancel(record) else "cancel-nothing"))
