"""💬 Describe under a photo, or /describe with a photo (as its caption, or in reply to it): up to three prompts that
describe the photo, each a button; a tap on one is that prompt typed (its style screen, or drawn at once).

The prompts come from the engine's captioning model (engine/describe.py); without one the button is not shown and
the command says so.
"""

from __future__ import annotations

from typing import Any

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message, ReplyParameters

from bot import files
from bot.delivery import Delivery
from bot.guards import ONCE, OncePerTap, PressedRecord
from bot.intake import Intake, PictureUnusable
from bot.records import JobRecord, Kind, Prefs
from bot.requests import Refused, Requests
from bot.rules import draws_at_once
from bot.telegram import PressedMessage, answer, place, pressed_message, sender_id
from keyboards.callbacks import OfferedCb, PhotoAct, PhotoCb
from keyboards.describe import described_keyboard
from locales import Texts

from .common import show_draft, start_request

router = Router(name="describe")


def _usable(record: JobRecord, pressed: Any) -> bool:
    """💬 Describe under a photo that is still known, or a prompt the bot offered: else a stale or forged button."""
    if isinstance(pressed, OfferedCb):
        return record.kind == Kind.PROMPT and bool(record.prompt)
    return record.kind == Kind.PHOTO and bool(record.source_file_ids)


router.callback_query.middleware(PressedRecord(_usable))
router.callback_query.middleware(OncePerTap())


def picture_of(message: Message | None) -> tuple[str | None, str]:
    """(the file id of the picture `message` carries, "") or (None, the locale key of why there is none)."""
    if message is not None and message.photo:
        file_id = files.best_photo(message.photo)
        return (file_id, "") if file_id else (None, "document-too-large")
    if message is not None and message.document:
        verdict = files.document_verdict(message.document)
        if verdict == "ok":
            return message.document.file_id, ""
        return None, {"too_large": "document-too-large", "video": "video-refused"}.get(verdict, "document-refused")
    return None, "describe-how"


@router.message(Command("describe"))
async def describe_command(message: Message, texts: Texts, prefs: Prefs, requests: Requests, intake: Intake) -> None:
    """/describe as a photo's caption, or in reply to a photo; alone it says how."""
    carries = bool(message.photo or message.document)
    file_id, why = picture_of(message if carries else message.reply_to_message)
    if not requests.can_describe():
        await message.reply(texts("describe-unavailable"))
    elif file_id is None:
        await message.reply(texts(why))
    else:
        await offer_prompts(sender_id(message), message, file_id, texts, prefs, requests, intake)


@router.callback_query(PhotoCb.filter(F.act == PhotoAct.DESCRIBE), flags=ONCE)
async def describe_photo(
    query: CallbackQuery, record: JobRecord, texts: Texts, prefs: Prefs, requests: Requests, intake: Intake
) -> None:
    await answer(query, texts.plain("describing"))
    message = pressed_message(query)
    await offer_prompts(query.from_user.id, message, record.source_file_ids[-1], texts, prefs, requests, intake)


async def offer_prompts(
    owner: int,
    message: PressedMessage,
    file_id: str,
    texts: Texts,
    prefs: Prefs,
    requests: Requests,
    intake: Intake,
) -> None:
    """The prompts that describe the picture, replying to `message`; or why there are none."""
    target = ReplyParameters(message_id=message.message_id, allow_sending_without_reply=True)
    if not requests.can_describe():  # the captioner went away since the button was shown
        await message.answer(texts("describe-unavailable"), reply_parameters=target)
        return
    try:
        prompts = await requests.describe(await intake.take(file_id), texts)
    except PictureUnusable as unusable:
        await message.answer(texts(unusable.key), reply_parameters=target)
        return
    except Refused as refused:
        await message.answer(refused.text, reply_parameters=target)
        return
    if not prompts:
        await message.answer(texts("describe-nothing"), reply_parameters=target)
        return
    offered = [await requests.draft(owner, *place(message), prefs, prompt, kind=Kind.PROMPT) for prompt in prompts]
    listed = "\n".join(f"{n}. {record.prompt}" for n, record in enumerate(offered, start=1))
    markup = described_keyboard([(record.id, record.prompt) for record in offered])
    await message.answer(texts("describe-prompts", prompts=listed), reply_markup=markup, reply_parameters=target)


@router.callback_query(OfferedCb.filter(), flags=ONCE)
async def draw_offered(
    query: CallbackQuery, record: JobRecord, texts: Texts, prefs: Prefs, requests: Requests, delivery: Delivery
) -> None:
    """A tap on an offered prompt: as if the user had typed it (each tap a request of its own)."""
    await answer(query, texts.plain("picked"))
    message = pressed_message(query)
    draft = await requests.draft(query.from_user.id, *place(message), prefs, record.prompt)
    if draws_at_once(prefs, style_typed=False):
        await start_request(draft, texts, requests, delivery, message)
    else:
        await show_draft(message, draft, texts, requests)
