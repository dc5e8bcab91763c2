"""Photos from the user: one -> choices (variations, restyle, photo + text, 4K, mix); two -> mix.

Incoming photo file ids are kept in FSM data as they arrive, album or not; the bot acts when there are
two (or on the user's choice). No waiting for the rest of an album: with event isolation each album
message is handled alone, in order.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot import files, screens
from bot.filters import AddressedMedia
from bot.guards import owned_record
from bot.states import Ask
from bot.storage import JobRecord, Prefs, Store
from bot.telegram import answer
from bot.workshop import SourcesMissing, Workshop
from keyboards.callbacks import PhotoCb
from keyboards.photos import mix_keyboard, photo_keyboard
from locales import Texts

router = Router(name="photos")


@router.message(F.photo, AddressedMedia())
async def photo(message: Message, prompt: str, state: FSMContext, texts: Texts, prefs: Prefs, workshop: Workshop):
    file_id = files.best_photo(message.photo)
    if file_id is None:
        await message.reply(texts("document-too-large"))
        return
    await _collect(message, file_id, prompt, state, texts, prefs, workshop)


@router.message(F.document, AddressedMedia())
async def document(message: Message, prompt: str, state: FSMContext, texts: Texts, prefs: Prefs, workshop: Workshop):
    verdict = files.document_verdict(message.document)
    if verdict == "too_large":
        await message.reply(texts("document-too-large"))
    elif verdict == "not_image":
        await message.reply(texts("document-refused"))
    else:
        await _collect(message, message.document.file_id, prompt, state, texts, prefs, workshop)


@router.message(F.video | F.animation | F.video_note, AddressedMedia())
async def video(message: Message, state: FSMContext, texts: Texts, prefs: Prefs, workshop: Workshop):
    await message.reply(texts("video-refused"))
    data = await state.get_data()
    photos = data.get("photos", [])
    if message.media_group_id and data.get("album") == message.media_group_id and len(photos) == 1:
        # An album of a photo and a video: the photo alone gets its choices after all.
        await _offer_one(message.from_user.id, message, photos[0], data.get("caption", ""), texts, prefs, workshop)


async def _collect(
    message: Message,
    file_id: str,
    prompt: str,
    state: FSMContext,
    texts: Texts,
    prefs: Prefs,
    workshop: Workshop,
) -> None:
    await state.set_state(None)  # a photo instead of the prompt the bot asked for: the question lapses
    data = await state.get_data()
    photos: list[str] = list(data.get("photos", []))
    album = message.media_group_id
    same_album = bool(album) and album == data.get("album")
    if same_album and len(photos) >= 2:
        if data.get("warned") != album:
            await state.update_data(warned=album)
            await message.reply(texts("photo-third"))
        return
    if same_album or (not album and len(photos) == 1):
        photos.append(file_id)
    else:
        photos = [file_id]
    caption = prompt or (data.get("caption", "") if len(photos) > 1 else "")
    await state.update_data(photos=photos, album=album or None, caption=caption, warned=None)
    if len(photos) == 2:
        await _offer_pair(message.from_user.id, message, photos, caption, texts, prefs, workshop)
    elif not album:  # the first photo of an album waits for the second
        await _offer_one(message.from_user.id, message, file_id, caption, texts, prefs, workshop)


async def _offer_one(
    owner: int, message: Message, file_id: str, caption: str, texts: Texts, prefs: Prefs, workshop: Workshop
):
    record = await workshop.draft(owner, message, prefs, caption, mode="photo", source_files=[file_id])
    markup = photo_keyboard(texts, record.id, workshop.modes())
    if not markup.inline_keyboard:
        await message.reply(texts("photos-unavailable"))
        return
    await message.reply(texts("photo-choices"), reply_markup=markup)


async def _offer_pair(
    owner: int, message: Message, photos: list[str], caption: str, texts: Texts, prefs: Prefs, workshop: Workshop
) -> None:
    record = await workshop.draft(owner, message, prefs, caption, mode="pair", source_files=list(photos))
    modes = workshop.modes()
    if "mix" not in modes:
        text = texts("mix-unavailable")
    else:
        text = texts("mix-choices-text", prompt=screens.short(caption)) if caption else texts("mix-choices")
    await message.reply(text, reply_markup=mix_keyboard(texts, record.id, modes))


@router.callback_query(PhotoCb.filter())
async def photo_choice(
    query: CallbackQuery,
    callback_data: PhotoCb,
    state: FSMContext,
    texts: Texts,
    prefs: Prefs,
    store: Store,
    workshop: Workshop,
) -> None:
    record = await owned_record(query, store, texts, callback_data.job)
    if record is None:
        return
    await answer(query, texts.plain("picked"))
    act, message = callback_data.act, query.message
    if act == "mix" and not callback_data.val:
        # "Mix with another photo": this photo waits in FSM data for the next one.
        await state.update_data(photos=list(record.source_files[-1:]), album=None, caption=record.prompt)
        await message.answer(texts("photo-send-second"))
        return
    if act == "only":
        await _offer_one(query.from_user.id, message, record.source_files[-1], "", texts, prefs, workshop)
        return
    await state.update_data(photos=[], album=None, caption="")
    try:
        job = await workshop.from_photos(record, act, prefs, callback_data.val)
    except SourcesMissing as missing:
        await message.answer(texts(missing.key))
        return
    if act in ("remix", "prompt"):
        question = "ask-restyle-prompt" if act == "remix" else "ask-photo-prompt"
        await _ask_or_show(message, job, texts, state, workshop, question)
        return
    problem = await workshop.start(job, texts, reply_to=message)
    if problem:
        await message.answer(problem)


async def _ask_or_show(
    message: Message, job: JobRecord, texts: Texts, state: FSMContext, workshop: Workshop, question: str
) -> None:
    """A mode that needs a prompt: the photo's caption, else ask for one."""
    if job.prompt.strip():
        text, markup = screens.draft_screen(texts, job, workshop.styles, workshop.default_style)
        sent = await message.answer(text, reply_markup=markup)
        job.message_id = sent.message_id
        await workshop.store.save_job(job)
        return
    await state.set_state(Ask.prompt)
    await state.update_data(draft=job.id)
    await message.answer(texts(question))
