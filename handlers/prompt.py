"""Text -> the style screen (styles in pages, ✨ improve prompt, aspect) -> a tap on a style starts it.

One handler per action of the style screen (keyboards.callbacks.DraftAct).
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot import params, screens
from bot.delivery import Delivery
from bot.filters import Addressed
from bot.guards import PressedRecord
from bot.records import JobRecord, Prefs, State
from bot.requests import Requests
from bot.rules import draws_at_once
from bot.states import Ask
from bot.telegram import answer, bot_of, edit_markup, edit_pressed, place, pressed_message, sender_id
from bot.text import clean_prompt
from engine.api import MAX_PROMPT_CHARS
from keyboards.callbacks import DraftAct, DraftCb, unpack_value
from keyboards.common import ASPECT_CHOICES
from locales import Texts

from .common import show_draft, start_request

router = Router(name="prompt")
# A press on the style screen of a request that already started (a double tap on a style) changes nothing.
router.callback_query.middleware(
    PressedRecord(lambda record, _: record.state == State.DRAFT, stale_key="already-started", alert=False)
)


def _cut_notice(texts: Texts, cut: bool) -> str:
    """A prompt over the engine's limit is cut, not refused: the user sees what is kept, and why."""
    return texts("prompt-cut", limit=MAX_PROMPT_CHARS) + "\n\n" if cut else ""


def _read(text: str, requests: Requests) -> tuple[str, bool, params.Parameters, dict]:
    """A prompt as typed: cleaned (and whether it was cut), its options, and the request fields they set; raises
    params.BadParameter naming a wrong option."""
    prompt, cut = clean_prompt(text)
    prompt, parameters = params.parse(prompt)
    return prompt, cut, parameters, params.record_fields(parameters, requests.style_names())


@router.message(Ask.prompt, F.text, Addressed())
async def answer_to_question(
    message: Message, prompt: str, state: FSMContext, texts: Texts, requests: Requests
) -> None:
    """The text the bot asked for (remix, photo + text, reuse seed): it completes that request's draft; options
    typed after it (--no, --seed ...) apply as to any prompt."""
    try:
        prompt, cut, _, fields = _read(prompt, requests)
    except params.BadParameter as bad:
        await message.reply(screens.parameter_error(texts, bad))
        return
    if not prompt:
        await message.reply(texts("prompt-empty"))
        return
    draft_id = (await state.get_data()).get("draft")
    await state.set_state(None)
    record = await requests.get(draft_id) if draft_id else None
    if record is None:
        await message.reply(texts("expired"))
        return
    record.prompt = prompt
    for name, value in fields.items():
        setattr(record, name, value)
    await show_draft(message, record, texts, requests, notice=_cut_notice(texts, cut))


@router.message(F.text.startswith("/"))
async def unknown_command(message: Message, texts: Texts) -> None:
    if message.chat.type == "private":
        await message.reply(texts("unknown-command"))


@router.message(F.text, Addressed())
async def prompt_text(
    message: Message, prompt: str, texts: Texts, prefs: Prefs, requests: Requests, delivery: Delivery
) -> None:
    """A prompt, with its parameters if any (--ar 16:9 ...): drawn at once in the user's default style (or the
    one typed), else its style screen."""
    try:
        prompt, cut, parameters, fields = _read(prompt, requests)
    except params.BadParameter as bad:
        await delivery.tell(message, sender_id(message), screens.parameter_error(texts, bad))
        return
    if not prompt:
        await delivery.tell(message, sender_id(message), texts("prompt-empty"))
        return
    record = await requests.draft(sender_id(message), *place(message), prefs, prompt, **fields)
    notice = _cut_notice(texts, cut)
    if draws_at_once(prefs, style_typed=parameters.style is not None):
        await start_request(record, texts, requests, delivery, message, note=notice)
    else:
        await show_draft(message, record, texts, requests, notice=notice)


@router.message(F.sticker | F.voice | F.audio | F.location | F.contact, Addressed())
async def other_content(message: Message, texts: Texts) -> None:
    await message.reply(texts("send-text-or-photo"))


# ---- the style screen's buttons ---------------------------------------------------------------------------
@router.callback_query(DraftCb.filter(F.act == DraftAct.STYLE))
async def pick_style(
    query: CallbackQuery,
    callback_data: DraftCb,
    record: JobRecord,
    texts: Texts,
    requests: Requests,
    delivery: Delivery,
) -> None:
    await answer(query, texts.plain("picked"))
    style = unpack_value(callback_data.style)
    if style in requests.styles:
        record.style = style
    await start_request(record, texts, requests, delivery, pressed_message(query), edit=True)


@router.callback_query(DraftCb.filter(F.act == DraftAct.CLOSE))
async def close(query: CallbackQuery, record: JobRecord, texts: Texts, requests: Requests) -> None:
    await answer(query)
    record.state = State.CLOSED
    await requests.save(record)
    await edit_pressed(query, texts("draft-closed"))


@router.callback_query(DraftCb.filter(F.act == DraftAct.PAGE))
async def turn_page(query: CallbackQuery, callback_data: DraftCb, record: JobRecord, **context) -> None:
    record.page = callback_data.page
    await _redraw(query, record, **context)


@router.callback_query(DraftCb.filter(F.act == DraftAct.BEAUTIFY))
async def toggle_beautify(query: CallbackQuery, record: JobRecord, requests: Requests, **context) -> None:
    if not requests.can_beautify():  # a stale button from before the prompt LLM went away
        await answer(query)
        return
    record.beautify = not record.beautify
    await _redraw(query, record, requests=requests, **context)


@router.callback_query(DraftCb.filter(F.act == DraftAct.ASPECT))
async def pick_aspect(query: CallbackQuery, callback_data: DraftCb, record: JobRecord, **context) -> None:
    aspect = unpack_value(callback_data.aspect)
    if aspect not in ASPECT_CHOICES:  # a forged button: nothing to change
        await answer(query)
        return
    record.aspect = aspect
    await _redraw(query, record, **context)


async def _redraw(query: CallbackQuery, record: JobRecord, texts: Texts, prefs: Prefs, requests: Requests, **_) -> None:
    """Save the changed draft and show its keyboard again."""
    await answer(query)
    await requests.save(record)
    default_style = prefs.style or requests.default_style
    _text, markup = screens.draft_screen(
        texts, record, requests.styles, default_style, offer_beautify=requests.can_beautify()
    )
    await edit_markup(bot_of(query), pressed_message(query), markup)
