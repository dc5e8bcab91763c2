"""✏️ Edit (under results and among a photo's choices): "What should change?", then the edited pictures; and
🖌 Region, which opens the Mini App (bot/webapp.py) on the picture picked. One handler per action.

What an edit makes is its rule in bot/rules.py (RESULT_RULES[ResultAct.EDIT], PHOTO_RULES[PhotoAct.EDIT]); the
answer to the question is kept as the request's instruction and the request starts at once.
"""

from __future__ import annotations

from typing import Any

from aiogram import F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot import rules, screens
from bot.delivery import Delivery
from bot.filters import Addressed
from bot.guards import ONCE, OncePerTap, PressedRecord
from bot.intake import PictureUnusable
from bot.links import region_links
from bot.records import JobRecord, Kind, State
from bot.requests import Requests
from bot.states import Ask
from bot.telegram import answer, edit_pressed, pressed_message
from engine.api import MAX_PROMPT_CHARS, one_line
from keyboards.callbacks import PhotoAct, PhotoCb, ResultAct, ResultCb
from keyboards.results import pick_keyboard, region_keyboard
from locales import Texts

from . import common

router = Router(name="edit")


def _usable(record: JobRecord, pressed: CallbackData) -> bool:
    """A button of a finished request naming one of its pictures, or a choice under a photo still known."""
    if isinstance(pressed, PhotoCb):
        return record.kind == Kind.PHOTO and bool(record.source_file_ids)
    assert isinstance(pressed, ResultCb)
    return record.state == State.DONE and 0 <= pressed.pic <= len(record.pictures)


router.callback_query.middleware(PressedRecord(_usable))
router.callback_query.middleware(OncePerTap())


async def _ask(query: CallbackQuery, record: JobRecord, rule: rules.Rule, picture: int, context: dict) -> None:
    """Make the edit request from `record` (its picture `picture`, 0 = the photo) and ask what should change."""
    texts: Texts = context["texts"]
    requests: Requests = context["requests"]
    message = pressed_message(query)
    await answer(query, texts.plain("picked"))
    try:
        job = await requests.derive(record, rule, context["prefs"], picture)
    except PictureUnusable as unusable:
        await message.reply(texts(unusable.key))
        return
    question = texts(rule.question, n=picture)
    await common.follow_rule(rule, job, message, texts, context["state"], requests, context["delivery"], question)


@router.callback_query(ResultCb.filter(F.act == ResultAct.EDIT), flags=ONCE)
async def edit(query: CallbackQuery, callback_data: ResultCb, record: JobRecord, **context: Any) -> None:
    """A picture picked from the menu: the main keyboard comes back, and the question."""
    await _ask(query, record, rules.RESULT_RULES[ResultAct.EDIT], callback_data.pic, context)
    requests: Requests = context["requests"]
    text, markup = screens.results_screen(context["texts"], record, requests.modes(), requests.public_url)
    await edit_pressed(query, text, markup)


@router.callback_query(ResultCb.filter(F.act == ResultAct.EDIT_MENU), flags=ONCE)
async def edit_menu(query: CallbackQuery, record: JobRecord, texts: Texts, **context: Any) -> None:
    if len(record.pictures) == 1:  # nothing to pick: ask at once
        await _ask(query, record, rules.RESULT_RULES[ResultAct.EDIT], 1, {"texts": texts, **context})
        return
    await answer(query, texts.plain("picked"))
    keyboard = pick_keyboard(texts, record.id, len(record.pictures), ResultAct.EDIT)
    await edit_pressed(query, texts("results-pick-edit"), keyboard)


@router.callback_query(ResultCb.filter(F.act == ResultAct.REGION_MENU))
async def region_menu(query: CallbackQuery, record: JobRecord, texts: Texts, requests: Requests) -> None:
    await answer(query, texts.plain("picked"))
    links = region_links(requests.public_url, record)
    if links is None:  # a button from before PUBLIC_URL was unset
        return
    keyboard = region_keyboard(texts, record.id, len(record.pictures), links)
    await edit_pressed(query, texts("results-pick-region"), keyboard)


@router.callback_query(PhotoCb.filter(F.act == PhotoAct.EDIT), flags=ONCE)
async def edit_photo(query: CallbackQuery, record: JobRecord, state: FSMContext, **context: Any) -> None:
    await state.update_data(photos=[], album=None, caption="")  # this photo is taken: no mix waits for it
    await _ask(query, record, rules.PHOTO_RULES[PhotoAct.EDIT], 0, {"state": state, **context})


@router.message(Ask.instruction, F.text, ~F.text.startswith("/"), Addressed())
async def instruction(
    message: Message, prompt: str, state: FSMContext, texts: Texts, requests: Requests, delivery: Delivery
) -> None:
    """The answer to "What should change?": the edit starts (a blank or overlong one is asked again)."""
    text = one_line(prompt)
    if not text:
        await message.reply(texts("edit-empty"))
        return
    if len(text) > MAX_PROMPT_CHARS:
        await message.reply(texts("edit-too-long", limit=MAX_PROMPT_CHARS, length=len(text)))
        return
    draft_id = (await state.get_data()).get("draft")
    await state.set_state(None)
    record = await requests.get(draft_id) if draft_id else None
    if record is None or record.state != State.DRAFT:
        await message.reply(texts("expired"))
        return
    record.instruction = text
    await requests.save(record)
    await common.start_request(record, texts, requests, delivery, message)
