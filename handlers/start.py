"""/start (greeting with example prompts), /help, and a tap on an example."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot import screens
from bot.storage import Prefs
from bot.telegram import answer
from bot.workshop import Workshop
from keyboards.callbacks import ExampleCb
from keyboards.start import EXAMPLES, examples_keyboard
from locales import Texts

router = Router(name="start")


@router.message(CommandStart())
async def greet(message: Message, texts: Texts, state: FSMContext) -> None:
    await state.clear()
    name = message.from_user.first_name if message.from_user else ""
    await message.answer(texts("start-greeting", name=name), reply_markup=examples_keyboard(texts))


@router.message(Command("help"))
async def help_text(message: Message, texts: Texts, prefs: Prefs) -> None:
    await message.answer(texts("help", count=prefs.count))


@router.callback_query(ExampleCb.filter())
async def example(
    query: CallbackQuery, callback_data: ExampleCb, texts: Texts, prefs: Prefs, workshop: Workshop
) -> None:
    if callback_data.n not in EXAMPLES or not workshop.first_press(query.from_user.id, query.data):
        await answer(query)  # a forged number, or a double tap: one style screen is enough
        return
    await answer(query)
    prompt = texts.plain(f"example-{callback_data.n}")
    record = await workshop.draft(query.from_user.id, query.message, prefs, prompt)
    text, markup = screens.draft_screen(
        texts, record, workshop.styles, workshop.default_style, offer_beautify=workshop.can_beautify()
    )
    sent = await query.message.answer(text, reply_markup=markup)
    record.message_id = sent.message_id
    await workshop.store.save_job(record)
