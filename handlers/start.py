"""/start (greeting with example prompts), /help, and a tap on an example."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot import screens
from bot.guards import ONCE, OncePerTap
from bot.records import Prefs
from bot.requests import Requests
from bot.telegram import answer, place, pressed_message
from keyboards.callbacks import ExampleCb
from keyboards.start import EXAMPLES, examples_keyboard
from locales import Texts

from .common import show_draft

router = Router(name="start")
router.callback_query.middleware(OncePerTap(quiet=True))  # a double tap: one style screen is enough


@router.message(CommandStart())
async def greet(message: Message, texts: Texts, state: FSMContext) -> None:
    await state.clear()
    name = message.from_user.first_name if message.from_user else ""
    await message.answer(texts("start-greeting", name=name), reply_markup=examples_keyboard(texts))


@router.message(Command("help"))
async def help_text(message: Message, texts: Texts, prefs: Prefs, requests: Requests) -> None:
    await message.answer(screens.help_text(texts, prefs.count, requests.can_describe()))


@router.callback_query(ExampleCb.filter(F.n.in_(EXAMPLES)), flags=ONCE)
async def example(query: CallbackQuery, callback_data: ExampleCb, texts: Texts, prefs: Prefs, requests: Requests):
    await answer(query)
    prompt = texts.plain(f"example-{callback_data.n}")
    message = pressed_message(query)
    record = await requests.draft(query.from_user.id, *place(message), prefs, prompt)
    await show_draft(message, record, texts, requests, reply=False)
