"""Text -> the style screen (styles in pages, ✨ improve prompt, aspect) -> a tap on a style starts it."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot import screens
from bot.filters import Addressed
from bot.guards import owned_record
from bot.states import Ask
from bot.storage import Prefs, Store
from bot.telegram import answer, edit_markup, edit_text
from bot.workshop import Workshop
from engine.api import MAX_PROMPT_CHARS
from keyboards.callbacks import DraftCb, unpack_value
from locales import Texts

router = Router(name="prompt")


def _prompt_problem(texts: Texts, prompt: str) -> str | None:
    if not prompt.strip():
        return texts("prompt-empty")
    if len(prompt) > MAX_PROMPT_CHARS:
        return texts("prompt-too-long", limit=MAX_PROMPT_CHARS)
    return None


async def _show_draft(message: Message, record, texts: Texts, workshop: Workshop) -> None:
    text, markup = screens.draft_screen(texts, record, workshop.styles, workshop.default_style)
    sent = await message.reply(text, reply_markup=markup)
    record.message_id = sent.message_id
    await workshop.store.save_job(record)


@router.message(Ask.prompt, F.text, Addressed())
async def answer_to_question(
    message: Message, prompt: str, state: FSMContext, texts: Texts, store: Store, workshop: Workshop
) -> None:
    """The text the bot asked for (remix, photo + text): it completes that request's draft."""
    if problem := _prompt_problem(texts, prompt):
        await message.reply(problem)
        return
    draft_id = (await state.get_data()).get("draft")
    await state.set_state(None)
    record = await store.get_job(draft_id) if draft_id else None
    if record is None:
        await message.reply(texts("expired"))
        return
    record.prompt = prompt
    await _show_draft(message, record, texts, workshop)


@router.message(F.text.startswith("/"))
async def unknown_command(message: Message, texts: Texts) -> None:
    if message.chat.type == "private":
        await message.reply(texts("unknown-command"))


@router.message(F.text, Addressed())
async def prompt_text(message: Message, prompt: str, texts: Texts, prefs: Prefs, workshop: Workshop) -> None:
    if problem := _prompt_problem(texts, prompt):
        await message.reply(problem)
        return
    record = await workshop.draft(message.from_user.id, message, prefs, prompt)
    await _show_draft(message, record, texts, workshop)


@router.message(F.sticker | F.voice | F.audio | F.location | F.contact, Addressed())
async def other_content(message: Message, texts: Texts) -> None:
    await message.reply(texts("send-text-or-photo"))


@router.callback_query(DraftCb.filter())
async def draft_button(
    query: CallbackQuery, callback_data: DraftCb, texts: Texts, prefs: Prefs, store: Store, workshop: Workshop
) -> None:
    record = await owned_record(query, store, texts, callback_data.job)
    if record is None:
        return
    if record.state != "draft":
        await answer(query, texts.plain("already-started"))
        return
    act, value = callback_data.act, unpack_value(callback_data.val)
    if act == "style":
        await answer(query, texts.plain("picked"))
        if value in workshop.styles:
            record.style = value
        problem = await workshop.start(record, texts, edit=query.message)
        if problem:
            await query.message.reply(problem)
        return
    await answer(query)
    if act == "close":
        record.state = "closed"
        await store.save_job(record)
        await edit_text(query.bot, query.message.chat.id, query.message.message_id, texts("draft-closed"))
        return
    if act == "page":
        record.page = int(value or 0)
    elif act == "beautify":
        record.beautify = not record.beautify
    elif act == "aspect":
        record.aspect = value
    await store.save_job(record)
    _, markup = screens.draft_screen(texts, record, workshop.styles, prefs.style or workshop.default_style)
    await edit_markup(query.bot, query.message, markup)
