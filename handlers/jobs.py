"""/cancel (all of my requests in progress, and any question the bot asked), the Cancel button, and "Try again"
under a request a restart could not redo."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.delivery import Delivery
from bot.guards import ONCE, OncePerTap, PressedRecord
from bot.records import JobRecord, State
from bot.requests import Requests
from bot.telegram import answer, pressed_message, sender_id
from keyboards.callbacks import JobAct, JobCb
from locales import Texts

from .common import start_request

router = Router(name="jobs")
router.callback_query.middleware(PressedRecord())
router.callback_query.middleware(OncePerTap())


@router.message(Command("cancel"))
async def cancel_all(message: Message, state: FSMContext, texts: Texts, requests: Requests) -> None:
    await state.clear()
    cancelled = requests.cancel_all(sender_id(message))
    await message.reply(texts("cancel-done", count=cancelled) if cancelled else texts("cancel-nothing"))


@router.callback_query(JobCb.filter(F.act == JobAct.CANCEL))
async def cancel_one(query: CallbackQuery, record: JobRecord, texts: Texts, requests: Requests) -> None:
    # The status message itself turns into "Cancelled" when the engine confirms it.
    await answer(query, texts.plain("job-cancelling" if requests.cancel(record) else "cancel-nothing"))


@router.callback_query(JobCb.filter(F.act == JobAct.RETRY), flags=ONCE)
async def retry(query: CallbackQuery, record: JobRecord, texts: Texts, requests: Requests, delivery: Delivery) -> None:
    if record.state != State.FAILED:  # taken up already
        await answer(query, texts.plain("already-started"))
        return
    await answer(query, texts.plain("picked"))
    await start_request(record, texts, requests, delivery, pressed_message(query), edit=True)
