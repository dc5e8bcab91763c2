"""/train_style NAME (administrators): the pictures of a brand style, counted as they come, then 🎓 Train. The engine
trains it at low priority (users' pictures go first) while a status message shows the progress; the style then
appears in everyone's style keyboard. One handler per step. After a restart that interrupted it, the administrator's
▶ Resume (or 🎓 Train again) and Forget (bot/training.py tell_interrupted).

The pictures are collected in FSM state Train.pictures (data "training"), album or not, one message at a time (event
isolation), each downloaded and checked on arrival so that an unreadable one is explained at once. In that state an
administrator's photos in the chat are the style's, mention or not; a photo's caption says what it shows.
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Document, Message, PhotoSize

from bot import files, screens
from bot.access import AccessPolicy
from bot.delivery import Delivery
from bot.filters import Addressed
from bot.intake import Intake, PictureUnusable
from bot.states import Train
from bot.telegram import answer, bot_of, edit_once, edit_pressed, edit_text, pressed_message, sender_id
from bot.text import clean_prompt
from bot.training import Training, follow, note, status_text
from engine.api import TRAINING_PICTURES, EngineError, ImageService, InterruptedTraining, TrainingRequest
from keyboards.callbacks import TrainAct, TrainCb
from keyboards.training import collecting_keyboard, training_keyboard
from locales import Texts

router = Router(name="training")
LEAST, MOST = TRAINING_PICTURES


def refusal(texts: Texts, error: EngineError, name: str) -> str:
    return screens.error_text(texts, error.code, name=name, least=LEAST, most=MOST)


@router.message(Command("train_style"))
async def train_style(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    texts: Texts,
    access: AccessPolicy,
    engine: ImageService,
) -> None:
    if not access.is_admin(sender_id(message)):
        await message.reply(texts("training-admins-only"))
        return
    name = (command.args or "").strip()
    if not name:
        await message.reply(texts("training-usage", least=LEAST, most=MOST))
        return
    try:
        engine.check_training(name)
    except EngineError as refused:
        await message.reply(refusal(texts, refused, name))
        return
    text = texts("training-send", name=name, least=LEAST, most=MOST)
    counter = await message.reply(text, reply_markup=collecting_keyboard(texts))
    await state.set_state(Train.pictures)
    await state.update_data(training={"name": name, "files": [], "captions": [], "counter": counter.message_id})


@router.message(Train.pictures, F.photo.as_("sizes"))
async def photo(message: Message, sizes: list[PhotoSize], **data: Any) -> None:
    file_id = files.best_photo(sizes)
    if file_id is None:
        await message.reply(data["texts"]("document-too-large"))
        return
    await _collect(message, file_id, data["state"], data["texts"], data["intake"])


@router.message(Train.pictures, F.document.as_("file"))
async def document(message: Message, file: Document, **data: Any) -> None:
    verdict = files.document_verdict(file)
    if verdict != "ok":
        await message.reply(data["texts"](files.refusal_key(verdict)))
        return
    await _collect(message, file.file_id, data["state"], data["texts"], data["intake"])


async def _collect(message: Message, file_id: str, state: FSMContext, texts: Texts, intake: Intake) -> None:
    """One more picture for the style, checked now; the counting message shows how many there are."""
    try:
        await intake.take(file_id)
    except PictureUnusable as refused:
        await message.reply(texts(refused.key))
        return
    training = (await state.get_data()).get("training")
    if not training:
        return
    if len(training["files"]) >= MOST:
        if not training.get("warned"):  # once, not for each picture of an album
            await state.update_data(training={**training, "warned": True})
            await message.reply(texts("training-too-many", most=MOST))
        return
    training["files"].append(file_id)
    training["captions"].append(clean_prompt(message.caption or "")[0])
    await state.update_data(training=training)
    count = len(training["files"])
    text = texts("training-count", name=training["name"], count=count, least=LEAST, most=MOST)
    # Tried once: an album's pictures come several a second, and each brings a newer count anyway.
    await edit_once(bot_of(message), message.chat.id, training["counter"], text, collecting_keyboard(texts))


@router.message(Train.pictures, F.text, ~F.text.startswith("/"), Addressed())
async def text_instead(message: Message, state: FSMContext, texts: Texts) -> None:
    training = (await state.get_data()).get("training") or {}
    await message.reply(texts("training-text-instead", name=training.get("name", "")))


@router.callback_query(TrainCb.filter(F.act == TrainAct.START))
async def start(
    query: CallbackQuery, state: FSMContext, texts: Texts, engine: ImageService, intake: Intake, delivery: Delivery
) -> None:
    """🎓 Train: the collected pictures go to the engine; the counting message becomes the training's status. A
    refusal (another training running...) keeps the pictures: Train can be tapped again later."""
    training = await _collected(state)
    if training is None:
        await answer(query, texts.plain("training-not-collecting"), alert=True)
        return
    name, count = training["name"], len(training["files"])
    if count < LEAST:
        await answer(query, texts.plain("training-too-few", least=LEAST, count=count), alert=True)
        return
    await answer(query, texts.plain("picked"))  # now: the pictures are fetched and written to disk first
    try:
        pictures = tuple([await intake.take(file_id) for file_id in training["files"]])
        client = note(*_place(query), texts)
        request = TrainingRequest(name=name, pictures=pictures, captions=tuple(training["captions"]), client=client)
        job = await engine.train_style(str(query.from_user.id), request)
    except (PictureUnusable, EngineError) as error:  # a picture's copy expired; the engine refused
        why = texts(error.key) if isinstance(error, PictureUnusable) else refusal(texts, error, name)
        await pressed_message(query).answer(why)
        return
    await state.set_state(None)
    await state.update_data(training=None)
    await _follow(query, Training(job, name, count, *_place(query)), texts, engine, delivery)


async def _collected(state: FSMContext) -> dict | None:
    """The pictures being collected, if this user is collecting some (in this chat)."""
    if await state.get_state() != Train.pictures:
        return None
    return (await state.get_data()).get("training") or None


def _place(query: CallbackQuery) -> tuple[int, int]:
    message = pressed_message(query)
    return message.chat.id, message.message_id


async def _follow(query: CallbackQuery, training: Training, texts: Texts, engine: ImageService, delivery: Delivery):
    bot: Bot = bot_of(query)
    text = status_text(texts, training, engine.status(training.job))
    await edit_text(bot, training.chat_id, training.message_id, text, training_keyboard(texts, training.job))
    delivery.in_background(f"training-{training.job}", follow(bot, engine, delivery.pacer, training, texts))


@router.callback_query(TrainCb.filter(F.act == TrainAct.DROP))
async def drop(query: CallbackQuery, state: FSMContext, texts: Texts) -> None:
    training = await _collected(state)
    if training is None:
        await answer(query, texts.plain("training-not-collecting"), alert=True)
        return
    await state.set_state(None)
    await state.update_data(training=None)
    await answer(query, texts.plain("picked"))
    await edit_pressed(query, texts("training-dropped", name=training["name"]))


@router.callback_query(TrainCb.filter(F.act == TrainAct.CANCEL))
async def cancel(
    query: CallbackQuery, callback_data: TrainCb, texts: Texts, engine: ImageService, access: AccessPolicy
) -> None:
    """The training's Cancel: its status message says "cancelled" when the engine confirms it."""
    if not access.is_admin(query.from_user.id):
        await answer(query, texts.plain("not-yours"), alert=True)
        return
    await answer(query, texts.plain("job-cancelling" if engine.cancel(callback_data.job) else "cancel-nothing"))


@router.callback_query(TrainCb.filter(F.act == TrainAct.RESUME))
async def resume(
    query: CallbackQuery,
    callback_data: TrainCb,
    texts: Texts,
    engine: ImageService,
    access: AccessPolicy,
    delivery: Delivery,
) -> None:
    """▶ Resume (or 🎓 Train again) under a training a restart interrupted: this message becomes its status."""
    kept = await _interrupted(query, callback_data, texts, engine, access)
    if kept is None:
        return
    chat_id, message_id = _place(query)
    try:
        job = await engine.resume_training(str(query.from_user.id), kept.id, note(chat_id, message_id, texts))
    except EngineError as error:  # another training runs now; the name was taken meanwhile...
        await answer(query)
        await pressed_message(query).answer(refusal(texts, error, kept.name))
        return
    await answer(query, texts.plain("picked"))
    await _follow(query, Training(job, kept.name, kept.pictures, chat_id, message_id), texts, engine, delivery)


@router.callback_query(TrainCb.filter(F.act == TrainAct.FORGET))
async def forget(
    query: CallbackQuery, callback_data: TrainCb, texts: Texts, engine: ImageService, access: AccessPolicy
) -> None:
    kept = await _interrupted(query, callback_data, texts, engine, access)
    if kept is None:
        return
    engine.forget_training(kept.id)
    await answer(query, texts.plain("picked"))
    await edit_pressed(query, texts("training-forgotten", name=kept.name))


async def _interrupted(
    query: CallbackQuery, callback_data: TrainCb, texts: Texts, engine: ImageService, access: AccessPolicy
) -> InterruptedTraining | None:
    """The interrupted training a button is about, if an administrator pressed it and its pictures are kept."""
    if not access.is_admin(query.from_user.id):
        await answer(query, texts.plain("not-yours"), alert=True)
        return None
    kept = next((kept for kept in engine.interrupted_trainings() if kept.id == callback_data.job), None)
    if kept is None:
        await answer(query, texts.plain("training-gone"), alert=True)
    return kept
