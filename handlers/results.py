"""The buttons under results: V (subtle/strong), 4K, 🔄 reroll, 🎨 another style, 🔭 zoom, 🖌 remix, mix balance."""

from __future__ import annotations

from aiogram import Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot import screens
from bot.guards import owned_record
from bot.states import Ask
from bot.storage import JobRecord, Store
from bot.telegram import answer, edit_text
from bot.workshop import SourcesMissing, Workshop
from keyboards.callbacks import ResultCb, unpack_value
from keyboards.results import pick_keyboard, strong_keyboard, zoom_keyboard
from locales import Texts

router = Router(name="results")
ACTS = ("vary", "strong", "upscale", "reroll", "restyle", "zoom", "remix", "mix", "menu", "zoompick")


@router.callback_query(ResultCb.filter())
async def result_button(
    query: CallbackQuery,
    callback_data: ResultCb,
    state: FSMContext,
    texts: Texts,
    store: Store,
    workshop: Workshop,
) -> None:
    record = await owned_record(query, store, texts, callback_data.job)
    if record is None:
        return
    count = len(record.pictures)
    act, pic, message = callback_data.act, callback_data.pic, query.message
    if record.state != "done" or not 0 <= pic <= count or act not in ACTS:
        await answer(query, texts.plain("expired"), alert=True)  # a stale or forged button
        return
    if act not in ("menu", "zoompick") and not workshop.first_press(query.from_user.id, query.data):
        await answer(query, texts.plain("already-started"))  # a double tap makes one job, not two
        return
    await answer(query, texts.plain("picked"))
    if act == "menu":
        await _menu(message, record, callback_data.val, texts, state, workshop)
        return
    if act == "zoompick":
        await edit_text(
            query.bot,
            message.chat.id,
            message.message_id,
            texts("results-zoom-text", n=pic),
            zoom_keyboard(texts, record.id, pic),
        )
        return
    value = unpack_value(callback_data.val)
    try:
        job = await workshop.follow_up(record, act, pic, value)
    except SourcesMissing as missing:
        await message.reply(texts(missing.key))
        return
    if act == "remix":
        await _restore(message, record, texts, workshop)
        await _ask_for_prompt(message, job, texts("ask-remix-prompt", n=pic), state)
        return
    if act == "restyle":
        text, markup = screens.draft_screen(texts, job, workshop.styles, None, offer_beautify=workshop.can_beautify())
        sent = await message.reply(text, reply_markup=markup)
        job.message_id = sent.message_id
        await store.save_job(job)
        return
    if act == "zoom":
        await _restore(message, record, texts, workshop)
    problem = await workshop.start(job, texts, reply_to=message)
    if problem:
        await message.reply(problem)


async def _menu(
    message: Message, record: JobRecord, menu: str, texts: Texts, state: FSMContext, workshop: Workshop
) -> None:
    count = len(record.pictures)
    if menu == "strong":
        text, markup = texts("results-strong-text"), strong_keyboard(texts, record.id, count)
    elif menu == "zoom" and count > 1:
        text, markup = texts("results-pick-zoom"), pick_keyboard(texts, record.id, count, "zoom")
    elif menu == "zoom":
        text, markup = texts("results-zoom-text", n=1), zoom_keyboard(texts, record.id, 1)
    elif menu == "remix" and count > 1:
        text, markup = texts("results-pick-remix"), pick_keyboard(texts, record.id, count, "remix")
    elif menu == "remix":
        try:
            job = await workshop.follow_up(record, "remix", 1)
        except SourcesMissing as missing:
            await message.reply(texts(missing.key))
            return
        await _ask_for_prompt(message, job, texts("ask-remix-prompt", n=1), state)
        return
    else:
        text, markup = screens.results_screen(texts, record, workshop.modes())
    await edit_text(message.bot, message.chat.id, message.message_id, text, markup)


async def _restore(message: Message, record: JobRecord, texts: Texts, workshop: Workshop) -> None:
    text, markup = screens.results_screen(texts, record, workshop.modes())
    await edit_text(message.bot, message.chat.id, message.message_id, text, markup)


async def _ask_for_prompt(message: Message, job: JobRecord, question: str, state: FSMContext) -> None:
    await state.set_state(Ask.prompt)
    await state.update_data(draft=job.id)
    await message.reply(question)
