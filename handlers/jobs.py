"""/cancel (all of my requests in progress, and any question the bot asked) and the Cancel button."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.guards import PressedRecord
from bot.records import JobRecord
from bot.requests import Requests
from bot.telegram import answer
from keyboards.callbacks import JobAct, JobCb
from locales import Texts

router = Router(name="jobs")
router.callback_query.middleware(PressedRecord())


@router.message(Command("cancel"))
async def cancel_all(message: Message, state: FSMContext, texts: Texts, requests: Requests) -> None:
    await state.clear()
    cancelled = requests.cancel_all(message.from_user.id)
    await message.reply(texts("cancel-done", count=cancelled) if cancelled else texts("cancel-nothing"))


@router.callback_query(JobCb.filter(F.act == JobAct.CANCEL))
async def cancel_one(query: CallbackQuery, record: JobRecord, texts: Texts, requests: Requests) -> None:
    # The status message itself turns into "Cancelled" when the engine confirms it.
    await answer(query, texts.plain("job-cancelling" if requests.cancel(record) else "cancel-nothing"))
