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
from bot.workshop import Workshop, clean_prompt
from engine.api import MAX_PROMPT_CHARS
from keyboards.callbacks import DraftCb, unpack_value
from keyboards.common import ASPECT_CHOICES
from locales import Texts

router = Router(name="prompt")


async def _show_draft(message: Message, record, texts: Texts, workshop: Workshop, cut: bool = False) -> None:
    text, markup = screens.draft_screen(
        texts, record, workshop.styles, workshop.default_style, offer_beautify=workshop.can_beautify()
    )
    if cut:  # a prompt over the engine's limit is cut, not refused: the user sees what is kept, and why
        text = texts("prompt-cut", limit=MAX_PROMPT_CHARS) + "\n\n" + text
    sent = await message.reply(text, reply_markup=markup)
    record.message_id = sent.message_id
    await workshop.store.save_job(record)


@router.message(Ask.prompt, F.text, Addressed())
async def answer_to_question(
    message: Message, prompt: str, state: FSMContext, texts: Texts, store: Store, workshop: Workshop
) -> None:
    """The text the bot asked for (remix, photo + text): it completes that request's draft."""
    prompt, cut = clean_prompt(prompt)
    if not prompt:
        await message.reply(texts("prompt-empty"))
        return
    draft_id = (await state.get_data()).get("draft")
    await state.set_state(None)
    record = await store.get_job(draft_id) if draft_id else None
    if record is None:
        await message.reply(texts("expired"))
        return
    record.prompt = prompt
    await _show_draft(message, record, texts, workshop, cut)


@router.message(F.text.startswith("/"))
async def unknown_command(message: Message, texts: Texts) -> None:
    if message.chat.type == "private":
        await message.reply(texts("unknown-command"))


@router.message(F.text, Addressed())
async def prompt_text(message: Message, prompt: str, texts: Texts, prefs: Prefs, workshop: Workshop) -> None:
    prompt, cut = clean_prompt(prompt)
    if not prompt:
        await message.reply(texts("prompt-empty"))
        return
    record = await workshop.draft(message.from_user.id, message, prefs, prompt)
    await _show_draft(message, record, texts, workshop, cut)


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
        record.page = _number(value)
    elif act == "beautify" and workshop.can_beautify():
        record.beautify = not record.beautify
    elif act == "aspect" and value in ASPECT_CHOICES:
        record.aspect = value
    else:
        return  # a stale or forged button: nothing to change
    await store.save_job(record)
    default_style = prefs.style or workshop.default_style
    _, markup = screens.draft_screen(
        texts, record, workshop.styles, default_style, offer_beautify=workshop.can_beautify()
    )
    await edit_markup(query.bot, query.message, markup)


def _number(value: str) -> int:
    """A page number from a button (a forged or stale one reads as the first page)."""
    try:
        return int(value)
    except ValueError:
        return 0
