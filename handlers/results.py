"""The buttons under results, one handler per action (keyboards.callbacks.ResultAct): V (subtle/strong), 4K,
🔄 reroll, 🎨 another style, 🔭 zoom, 🖌 redraw, mix balance, ⬇ PNG, ℹ (and its "reuse seed"), ⭐, and the
sub-menus that pick a picture.

What each press makes is its rule in bot/rules.py (RESULT_RULES); these handlers only read the press, apply
the rule and show what comes next.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery

from bot import rules, screens
from bot.delivery import Delivery
from bot.guards import ONCE, OncePerTap, PressedRecord
from bot.intake import PictureUnusable
from bot.records import JobRecord, Prefs, State
from bot.requests import Requests
from bot.telegram import answer, edit_pressed, is_rich, place, pressed_message
from keyboards.callbacks import ResultAct, ResultCb, unpack_value
from keyboards.results import info_keyboard, pick_keyboard, strong_keyboard, zoom_keyboard
from locales import Texts

from . import common

router = Router(name="results")


def _usable(record: JobRecord, pressed: ResultCb) -> bool:
    """A button of a finished request, naming one of its pictures (or none): else a stale or forged one."""
    return record.state == State.DONE and 0 <= pressed.pic <= len(record.pictures)


router.callback_query.middleware(PressedRecord(_usable))
router.callback_query.middleware(OncePerTap())


class Press:
    """A press of a button that makes a new request, with what applying its rule needs."""

    def __init__(self, query: CallbackQuery, record: JobRecord, pic: int, context: dict) -> None:
        self.query, self.record, self.pic = query, record, pic
        self.texts: Texts = context["texts"]
        self.prefs: Prefs = context["prefs"]
        self.state: FSMContext = context["state"]
        self.requests: Requests = context["requests"]
        self.delivery: Delivery = context["delivery"]


async def _apply(
    act: ResultAct, press: Press, *, restore: bool = False, question_values: dict | None = None, **changes
) -> None:
    """Make the request RESULT_RULES[act] makes and go on as the rule says; `changes` are the press's own
    arguments; `restore` puts the main keyboard back first (the press came from a sub-menu)."""
    texts, message, rule = press.texts, pressed_message(press.query), rules.RESULT_RULES[act]
    await answer(press.query, texts.plain("picked"))
    try:
        job = await press.requests.derive(press.record, rule, press.prefs, press.pic, **changes)
    except PictureUnusable as unusable:
        await press.delivery.tell(message, press.query.from_user.id, texts(unusable.key))
        return
    if restore:
        await _show_main(press.query, press.record, texts, press.requests)
    question = texts(rule.question, n=press.pic, **(question_values or {})) if rule.question else ""
    await common.follow_rule(rule, job, message, texts, press.state, press.requests, press.delivery, question)


# aiogram hands a handler the keyword arguments it names; `**context` takes them all (texts, prefs, state,
# requests, delivery...), which Press picks from.
@router.callback_query(ResultCb.filter(F.act.in_({ResultAct.VARY, ResultAct.STRONG})), flags=ONCE)
async def vary(query: CallbackQuery, callback_data: ResultCb, record: JobRecord, **context) -> None:
    await _apply(callback_data.act, Press(query, record, callback_data.pic, context))


@router.callback_query(ResultCb.filter(F.act == ResultAct.UPSCALE), flags=ONCE)
async def upscale(query: CallbackQuery, callback_data: ResultCb, record: JobRecord, **context) -> None:
    await _apply(ResultAct.UPSCALE, Press(query, record, callback_data.pic, context))


@router.callback_query(ResultCb.filter(F.act == ResultAct.REROLL), flags=ONCE)
async def reroll(query: CallbackQuery, record: JobRecord, **context) -> None:
    await _apply(ResultAct.REROLL, Press(query, record, 0, context))


@router.callback_query(ResultCb.filter(F.act == ResultAct.RESTYLE), flags=ONCE)
async def restyle(query: CallbackQuery, record: JobRecord, **context) -> None:
    await _apply(ResultAct.RESTYLE, Press(query, record, 0, context))


@router.callback_query(ResultCb.filter(F.act == ResultAct.MIX), flags=ONCE)
async def mix_balance(query: CallbackQuery, callback_data: ResultCb, record: JobRecord, **context) -> None:
    await _apply(ResultAct.MIX, Press(query, record, 0, context), **rules.balance(callback_data.balance))


@router.callback_query(ResultCb.filter(F.act == ResultAct.ZOOM_OUT), flags=ONCE)
async def zoom_out(query: CallbackQuery, callback_data: ResultCb, record: JobRecord, **context) -> None:
    press = Press(query, record, callback_data.pic, context)
    await _apply(ResultAct.ZOOM_OUT, press, restore=True, **rules.zoom_out(callback_data.factor))


@router.callback_query(ResultCb.filter(F.act == ResultAct.EXTEND), flags=ONCE)
async def extend(query: CallbackQuery, callback_data: ResultCb, record: JobRecord, **context) -> None:
    press = Press(query, record, callback_data.pic, context)
    await _apply(ResultAct.EXTEND, press, restore=True, **rules.extend(unpack_value(callback_data.aspect)))


@router.callback_query(ResultCb.filter(F.act == ResultAct.REMIX), flags=ONCE)
async def remix(query: CallbackQuery, callback_data: ResultCb, record: JobRecord, **context) -> None:
    await _apply(ResultAct.REMIX, Press(query, record, callback_data.pic, context), restore=True)


# ---- sub-menus: the same message, another keyboard --------------------------------------------------------
@router.callback_query(ResultCb.filter(F.act == ResultAct.STRONG_MENU))
async def strong_menu(query: CallbackQuery, record: JobRecord, texts: Texts) -> None:
    await answer(query, texts.plain("picked"))
    keyboard = strong_keyboard(texts, record.id, len(record.pictures))
    await edit_pressed(query, texts("results-strong-text"), keyboard)


@router.callback_query(ResultCb.filter(F.act == ResultAct.ZOOM_MENU))
async def zoom_menu(query: CallbackQuery, record: JobRecord, texts: Texts) -> None:
    await answer(query, texts.plain("picked"))
    if len(record.pictures) > 1:
        keyboard = pick_keyboard(texts, record.id, len(record.pictures), ResultAct.ZOOM_PICK)
        await edit_pressed(query, texts("results-pick-zoom"), keyboard)
    else:
        await edit_pressed(query, texts("results-zoom-text", n=1), zoom_keyboard(texts, record.id, 1))


@router.callback_query(ResultCb.filter(F.act == ResultAct.ZOOM_PICK))
async def zoom_pick(query: CallbackQuery, callback_data: ResultCb, record: JobRecord, texts: Texts) -> None:
    await answer(query, texts.plain("picked"))
    pic = callback_data.pic
    await edit_pressed(query, texts("results-zoom-text", n=pic), zoom_keyboard(texts, record.id, pic))


@router.callback_query(ResultCb.filter(F.act == ResultAct.REMIX_MENU))
async def remix_menu(query: CallbackQuery, record: JobRecord, texts: Texts, **context) -> None:
    if len(record.pictures) == 1:  # nothing to pick: remix it
        await _apply(ResultAct.REMIX, Press(query, record, 1, {"texts": texts, **context}))
        return
    await answer(query, texts.plain("picked"))
    keyboard = pick_keyboard(texts, record.id, len(record.pictures), ResultAct.REMIX)
    await edit_pressed(query, texts("results-pick-remix"), keyboard)


# ---- keeping a picture: its original file, how it was made, its seed again, ⭐ ----------------------------
@router.callback_query(ResultCb.filter(F.act == ResultAct.PNG_MENU))
async def png_menu(query: CallbackQuery, record: JobRecord, texts: Texts) -> None:
    await answer(query, texts.plain("picked"))
    keyboard = pick_keyboard(texts, record.id, len(record.pictures), ResultAct.PNG)
    await edit_pressed(query, texts("results-pick-png"), keyboard)


@router.callback_query(ResultCb.filter(F.act == ResultAct.PNG), flags=ONCE)
async def original(
    query: CallbackQuery, callback_data: ResultCb, record: JobRecord, texts: Texts, requests: Requests, **context
) -> None:
    """The stored full-quality PNG, as a document (Telegram recompresses photos, never documents): no GPU work."""
    await answer(query, texts.plain("picked"))
    message = pressed_message(query)
    delivery: Delivery = context["delivery"]
    try:
        data = await requests.picture(record, callback_data.pic)
    except PictureUnusable as unusable:
        await delivery.tell(message, query.from_user.id, texts(unusable.key))
        return
    if len(record.pictures) > 1:
        await _show_main(query, record, texts, requests)
    await delivery.send_original(record, callback_data.pic, data, texts, *place(message), message.message_id)


@router.callback_query(ResultCb.filter(F.act == ResultAct.INFO_MENU))
async def info_menu(query: CallbackQuery, record: JobRecord, texts: Texts) -> None:
    await answer(query, texts.plain("picked"))
    keyboard = pick_keyboard(texts, record.id, len(record.pictures), ResultAct.INFO)
    await edit_pressed(query, texts("results-pick-info"), keyboard)


@router.callback_query(ResultCb.filter(F.act == ResultAct.INFO))
async def info(query: CallbackQuery, callback_data: ResultCb, record: JobRecord, texts: Texts, requests: Requests):
    await answer(query, texts.plain("picked"))
    pic = max(callback_data.pic, 1)
    text = screens.info_text(texts, record, pic, requests.styles)
    message = pressed_message(query)
    if is_rich(message):  # the pictures' own message keeps them: the answer comes below it
        await message.reply(text, reply_markup=info_keyboard(texts, record.id, pic))
    else:
        await edit_pressed(query, text, info_keyboard(texts, record.id, pic))


@router.callback_query(ResultCb.filter(F.act == ResultAct.SEED), flags=ONCE)
async def reuse_seed(query: CallbackQuery, callback_data: ResultCb, record: JobRecord, **context) -> None:
    press = Press(query, record, max(callback_data.pic, 1), context)
    seed = record.seed_of(press.pic)
    await _apply(ResultAct.SEED, press, restore=True, question_values={"seed": seed})


@router.callback_query(ResultCb.filter(F.act == ResultAct.STAR))
async def star(query: CallbackQuery, record: JobRecord, texts: Texts, requests: Requests) -> None:
    try:
        starred = await requests.star(record)
    except PictureUnusable:
        await answer(query, texts.plain("expired"), alert=True)
        return
    await answer(query, texts.plain("starred" if starred else "unstarred"))
    await _show_main(query, record, texts, requests)


@router.callback_query(ResultCb.filter(F.act == ResultAct.BACK))
async def back(query: CallbackQuery, record: JobRecord, texts: Texts, requests: Requests) -> None:
    await answer(query, texts.plain("picked"))
    await _show_main(query, record, texts, requests)


async def _show_main(query: CallbackQuery, record: JobRecord, texts: Texts, requests: Requests) -> None:
    text, markup = screens.results_screen(texts, record, requests.modes(), requests.public_url)
    await edit_pressed(query, text, markup)
