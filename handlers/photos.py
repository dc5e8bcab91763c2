"""Photos from the user: one -> choices (variations, restyle, photo + text, 4K, mix); two -> mix.

Incoming photo file ids are kept in FSM data as they arrive, album or not; the bot acts when there are
two (or on the user's choice). No waiting for the rest of an album: with event isolation each album
message is handled alone, in order.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, ReplyParameters

from bot import files, screens
from bot.filters import AddressedMedia
from bot.guards import owned_record
from bot.states import Ask
from bot.storage import JobRecord, Prefs, Store
from bot.telegram import answer
from bot.workshop import SourcesMissing, Workshop, clean_prompt
from engine.api import MAX_PROMPT_CHARS
from keyboards.callbacks import PhotoCb
from keyboards.photos import mix_keyboard, photo_keyboard
from locales import Texts

router = Router(name="photos")
CHOICES = ("vary", "remix", "prompt", "upscale", "mix", "only")


@router.message(F.photo, AddressedMedia())
async def photo(message: Message, prompt: str, state: FSMContext, texts: Texts, prefs: Prefs, workshop: Workshop):
    file_id = files.best_photo(message.photo)
    if file_id is None:
        await _refuse(message, texts("document-too-large"), state, texts, prefs, workshop)
        return
    await _collect(message, file_id, prompt, state, texts, prefs, workshop)


@router.message(F.document, AddressedMedia())
async def document(message: Message, prompt: str, state: FSMContext, texts: Texts, prefs: Prefs, workshop: Workshop):
    verdict = files.document_verdict(message.document)  # refused before any download where the metadata says so
    if verdict == "ok":
        await _collect(message, message.document.file_id, prompt, state, texts, prefs, workshop)
        return
    key = {"too_large": "document-too-large", "video": "video-refused"}.get(verdict, "document-refused")
    await _refuse(message, texts(key), state, texts, prefs, workshop)


@router.message(F.video | F.animation | F.video_note, AddressedMedia())
async def video(message: Message, state: FSMContext, texts: Texts, prefs: Prefs, workshop: Workshop):
    await _refuse(message, texts("video-refused"), state, texts, prefs, workshop)


async def _refuse(message: Message, text: str, state: FSMContext, texts: Texts, prefs: Prefs, workshop: Workshop):
    """Explain why this file cannot be used; in an album, the good photos still get their choices."""
    await message.reply(text)
    album = message.media_group_id
    if not album:
        return
    data = await state.get_data()
    photos = data.get("photos", []) if data.get("album") == album else []
    if len(photos) == 1 and data.get("offered") != album:  # the one good photo gets its choices (under it)
        caption, first = data.get("caption", ""), data.get("first_message")
        await state.update_data(offered=album)
        await _offer_one(message.from_user.id, message, photos[0], caption, texts, prefs, workshop, reply_to=first)
    elif not photos:  # the album's next good photo will not wait for a second one
        caption = clean_prompt(message.caption or "")[0] or data.get("caption", "")
        await state.update_data(photos=[], album=album, caption=caption, lone=album, warned=None)


async def _collect(
    message: Message,
    file_id: str,
    prompt: str,
    state: FSMContext,
    texts: Texts,
    prefs: Prefs,
    workshop: Workshop,
) -> None:
    try:  # checked on arrival: a bad file is explained now, not after a button press
        await workshop.take_picture(file_id)
    except SourcesMissing as refused:
        await _refuse(message, texts(refused.key), state, texts, prefs, workshop)
        return
    prompt, cut = clean_prompt(prompt)
    notice = texts("prompt-cut", limit=MAX_PROMPT_CHARS) + "\n\n" if cut else ""
    await state.set_state(None)  # a photo instead of the prompt the bot asked for: the question lapses
    data = await state.get_data()
    photos: list[str] = list(data.get("photos", []))
    album = message.media_group_id
    same_album = bool(album) and album == data.get("album")
    lone = same_album and data.get("lone") == album and not photos  # the album's first photo was refused
    if same_album and len(photos) >= 2:
        if data.get("warned") != album:
            await state.update_data(warned=album)
            await message.reply(texts("photo-third"))
        return
    if same_album or (not album and len(photos) == 1):
        photos.append(file_id)
    else:
        photos = [file_id]
    caption = prompt or (data.get("caption", "") if len(photos) > 1 or lone else "")
    first = message.message_id if len(photos) == 1 else data.get("first_message")
    kept = {"photos": photos, "album": album or None, "caption": caption, "first_message": first}
    await state.update_data(kept, warned=None, lone=None, offered=album if lone else None)
    if len(photos) == 2:
        await _offer_pair(message.from_user.id, message, photos, caption, texts, prefs, workshop, notice)
    elif not album or lone:  # the first photo of an album waits for the second
        await _offer_one(message.from_user.id, message, file_id, caption, texts, prefs, workshop, notice)


async def _offer_one(
    owner: int,
    message: Message,
    file_id: str,
    caption: str,
    texts: Texts,
    prefs: Prefs,
    workshop: Workshop,
    notice: str = "",
    reply_to: int | None = None,
):
    """The choices for one photo, replying to it (`reply_to`: its message, when `message` is another one)."""
    record = await workshop.draft(owner, message, prefs, caption, mode="photo", source_files=[file_id])
    markup = photo_keyboard(texts, record.id, workshop.modes())
    text = texts("photos-unavailable") if not markup.inline_keyboard else notice + texts("photo-choices")
    target = ReplyParameters(message_id=reply_to or message.message_id, allow_sending_without_reply=True)
    await message.answer(text, reply_markup=markup if markup.inline_keyboard else None, reply_parameters=target)


async def _offer_pair(
    owner: int,
    message: Message,
    photos: list[str],
    caption: str,
    texts: Texts,
    prefs: Prefs,
    workshop: Workshop,
    notice: str = "",
) -> None:
    record = await workshop.draft(owner, message, prefs, caption, mode="pair", source_files=list(photos))
    modes = workshop.modes()
    if "mix" not in modes:
        text = texts("mix-unavailable")
    else:
        text = texts("mix-choices-text", prompt=screens.short(caption)) if caption else texts("mix-choices")
    await message.reply(notice + text, reply_markup=mix_keyboard(texts, record.id, modes))


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
    act, message = callback_data.act, query.message
    if record.mode not in ("photo", "pair") or not record.source_files or act not in CHOICES:
        await answer(query, texts.plain("expired"), alert=True)  # a stale or forged button
        return
    if not workshop.first_press(query.from_user.id, query.data):
        await answer(query, texts.plain("already-started"))
        return
    await answer(query, texts.plain("picked"))
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
        text, markup = screens.draft_screen(
            texts, job, workshop.styles, workshop.default_style, offer_beautify=workshop.can_beautify()
        )
        sent = await message.answer(text, reply_markup=markup)
        job.message_id = sent.message_id
        await workshop.store.save_job(job)
        return
    await state.set_state(Ask.prompt)
    await state.update_data(draft=job.id)
    await message.answer(texts(question))
