"""Photos from the user: one -> choices (variations, restyle, photo + text, 4K, mix); two -> mix.

Incoming photo file ids are kept in FSM data as they arrive, album or not; the bot acts when there are
two (or on the user's choice). No waiting for the rest of an album: with event isolation each album
message is handled alone, in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Document, Message, PhotoSize, ReplyParameters

from bot import files, rules
from bot.delivery import Delivery
from bot.filters import AddressedMedia
from bot.guards import ONCE, OncePerTap, PressedRecord
from bot.intake import Intake, PictureUnusable
from bot.links import region_links
from bot.records import JobRecord, Kind, Prefs
from bot.requests import Requests
from bot.telegram import PressedMessage, answer, place, pressed_message, sender_id
from bot.text import clean_prompt, short
from engine.api import MAX_PROMPT_CHARS, Mode
from keyboards.callbacks import PhotoAct, PhotoCb
from keyboards.photos import mix_keyboard, photo_keyboard
from locales import Texts

from . import common

router = Router(name="photos")


@dataclass
class Arrival:
    """What the handlers of a user's file share: the FSM context, the user's language and preferences, services."""

    state: FSMContext
    texts: Texts
    prefs: Prefs
    requests: Requests
    intake: Intake

    @classmethod
    def of(cls, data: dict[str, Any]) -> Arrival:
        return cls(data["state"], data["texts"], data["prefs"], data["requests"], data["intake"])


# `.as_(name)`: the filter hands the handler what it found (the photo's sizes, the document).
@router.message(F.photo.as_("sizes"), AddressedMedia())
async def photo(message: Message, sizes: list[PhotoSize], prompt: str, **data: Any) -> None:
    arrival = Arrival.of(data)
    file_id = files.best_photo(sizes)
    if file_id is None:
        await _refuse(message, arrival.texts("document-too-large"), arrival)
        return
    await _collect(message, file_id, prompt, arrival)


@router.message(F.document.as_("file"), AddressedMedia())
async def document(message: Message, file: Document, prompt: str, **data: Any) -> None:
    arrival = Arrival.of(data)
    verdict = files.document_verdict(file)  # refused before any download where the metadata says so
    if verdict == "ok":
        await _collect(message, file.file_id, prompt, arrival)
        return
    await _refuse(message, arrival.texts(files.refusal_key(verdict)), arrival)


@router.message(F.video | F.animation | F.video_note, AddressedMedia())
async def video(message: Message, **data: Any) -> None:
    arrival = Arrival.of(data)
    await _refuse(message, arrival.texts("video-refused"), arrival)


async def _refuse(message: Message, text: str, arrival: Arrival) -> None:
    """Explain why this file cannot be used; in an album, the good photos still get their choices."""
    await message.reply(text)
    album, state = message.media_group_id, arrival.state
    if not album:
        return
    data = await state.get_data()
    photos = data.get("photos", []) if data.get("album") == album else []
    if len(photos) == 1 and data.get("offered") != album:  # the one good photo gets its choices (under it)
        caption, first = data.get("caption", ""), data.get("first_message")
        await state.update_data(offered=album)
        owner, texts, prefs, requests = sender_id(message), arrival.texts, arrival.prefs, arrival.requests
        await _offer_one(owner, message, photos[0], caption, texts, prefs, requests, reply_to=first)
    elif not photos:  # the album's next good photo will not wait for a second one
        caption = clean_prompt(message.caption or "")[0] or data.get("caption", "")
        await state.update_data(photos=[], album=album, caption=caption, lone=album, warned=None)


async def _collect(message: Message, file_id: str, prompt: str, arrival: Arrival) -> None:
    texts, state = arrival.texts, arrival.state
    try:  # checked on arrival: a bad file is explained now, not after a button press
        await arrival.intake.take(file_id)
    except PictureUnusable as refused:
        await _refuse(message, texts(refused.key), arrival)
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
    owner, prefs, requests = sender_id(message), arrival.prefs, arrival.requests
    if len(photos) == 2:
        await _offer_pair(owner, message, photos, caption, texts, prefs, requests, notice)
    elif not album or lone:  # the first photo of an album waits for the second
        await _offer_one(owner, message, file_id, caption, texts, prefs, requests, notice)


async def _offer_one(
    owner: int,
    message: PressedMessage,
    file_id: str,
    caption: str,
    texts: Texts,
    prefs: Prefs,
    requests: Requests,
    notice: str = "",
    reply_to: int | None = None,
):
    """The choices for one photo, replying to it (`reply_to`: its message, when `message` is another one)."""
    record = await requests.draft(
        owner, *place(message), prefs, caption, kind=Kind.PHOTO, aspect="", source_file_ids=[file_id]
    )
    region = region_links(requests.public_url, record)
    markup = photo_keyboard(texts, record.id, requests.modes(), region, describes=requests.can_describe())
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
    requests: Requests,
    notice: str = "",
) -> None:
    record = await requests.draft(
        owner, *place(message), prefs, caption, kind=Kind.PAIR, aspect="", source_file_ids=list(photos)
    )
    modes = requests.modes()
    if Mode.MIX not in modes:
        text = texts("mix-unavailable")
    else:
        text = texts("mix-choices-text", prompt=short(caption)) if caption else texts("mix-choices")
    await message.reply(notice + text, reply_markup=mix_keyboard(texts, record.id, modes))


def _usable(record: JobRecord, pressed: PhotoCb) -> bool:
    """A choice under photos of the user's that are still known: else a stale or forged button."""
    return record.kind in (Kind.PHOTO, Kind.PAIR) and bool(record.source_file_ids)


router.callback_query.middleware(PressedRecord(_usable))
router.callback_query.middleware(OncePerTap())


@router.callback_query(PhotoCb.filter(F.act == PhotoAct.PAIR), flags=ONCE)
async def pair_with_next(query: CallbackQuery, record: JobRecord, state: FSMContext, texts: Texts) -> None:
    """ "Mix with another photo": this photo waits in FSM data for the next one."""
    await answer(query, texts.plain("picked"))
    await state.update_data(photos=list(record.source_file_ids[-1:]), album=None, caption=record.prompt)
    await pressed_message(query).answer(texts("photo-send-second"))


@router.callback_query(PhotoCb.filter(F.act == PhotoAct.ONLY_LAST), flags=ONCE)
async def only_last(query: CallbackQuery, record: JobRecord, texts: Texts, prefs: Prefs, requests: Requests) -> None:
    await answer(query, texts.plain("picked"))
    await _offer_one(query.from_user.id, pressed_message(query), record.source_file_ids[-1], "", texts, prefs, requests)


MAKES_A_REQUEST = {PhotoAct.VARY, PhotoAct.RESTYLE, PhotoAct.PROMPT, PhotoAct.UPSCALE, PhotoAct.MIX}


@router.callback_query(PhotoCb.filter(F.act.in_(MAKES_A_REQUEST)), flags=ONCE)
async def photo_choice(
    query: CallbackQuery,
    callback_data: PhotoCb,
    record: JobRecord,
    state: FSMContext,
    texts: Texts,
    prefs: Prefs,
    requests: Requests,
    delivery: Delivery,
) -> None:
    """Variations, restyle, photo + text, 4K, or a mix at a balance: the request PHOTO_RULES[act] makes."""
    await answer(query, texts.plain("picked"))
    await state.update_data(photos=[], album=None, caption="")
    rule = rules.PHOTO_RULES[callback_data.act]
    changes = rules.balance(callback_data.balance) if callback_data.act == PhotoAct.MIX else {}
    message = pressed_message(query)
    try:
        job = await requests.derive(record, rule, prefs, **changes)
    except PictureUnusable as unusable:
        await message.answer(texts(unusable.key))
        return
    await common.follow_rule(rule, job, message, texts, state, requests, delivery)
