"""/settings (language, default style, aspect, pictures per request, prompt improvement) and /styles."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot import screens
from bot.commands import set_chat_commands
from bot.limits import DailyQuota, quota_note
from bot.storage import Prefs, Store
from bot.telegram import answer, edit_text
from bot.workshop import Workshop
from keyboards.callbacks import SettingsCb, unpack_value
from keyboards.common import ASPECT_CHOICES
from keyboards.settings import COUNTS
from locales import LOCALES, Texts, Translator

router = Router(name="settings")


@router.message(Command("settings"))
async def show_settings(
    message: Message, texts: Texts, prefs: Prefs, translator: Translator, workshop: Workshop, quota: DailyQuota
):
    text, markup = screens.settings_screen(
        texts,
        translator,
        message.from_user.id,
        prefs,
        workshop.styles,
        workshop.default_style,
        offer_beautify=workshop.can_beautify(),
    )
    text += await quota_note(texts, quota, message.from_user.id)
    await message.answer(text, reply_markup=markup)


@router.message(Command("styles"))
async def show_styles(message: Message, texts: Texts, prefs: Prefs, workshop: Workshop):
    text, markup = screens.styles_screen(texts, message.from_user.id, prefs, workshop.styles, workshop.default_style)
    await message.answer(text, reply_markup=markup)


@router.callback_query(SettingsCb.filter())
async def change_setting(
    query: CallbackQuery,
    callback_data: SettingsCb,
    texts: Texts,
    prefs: Prefs,
    store: Store,
    translator: Translator,
    workshop: Workshop,
    quota: DailyQuota,
) -> None:
    user = query.from_user.id
    if callback_data.user != user:
        await answer(query, texts.plain("not-yours"), alert=True)
        return
    act, value = callback_data.act, unpack_value(callback_data.val)
    if act == "styles":
        await answer(query)
        page = int(value) if value.isdigit() else 0
        text, markup = screens.styles_screen(texts, user, prefs, workshop.styles, workshop.default_style, page)
        await edit_text(query.bot, query.message.chat.id, query.message.message_id, text, markup)
        return
    if act == "lang" and value in LOCALES:
        prefs.locale = value
        texts = translator[value]
    elif act == "style" and value in workshop.styles:
        prefs.style = value
    elif act == "aspect" and value in ASPECT_CHOICES:
        prefs.aspect = value
    elif act == "count" and value.isdigit() and int(value) in COUNTS:
        prefs.count = int(value)
    elif act == "beautify" and workshop.can_beautify():
        prefs.beautify = not prefs.beautify
    if act != "back":
        await store.save_prefs(user, prefs)
    await answer(query, texts.plain("settings-saved") if act != "back" else None)
    text, markup = screens.settings_screen(
        texts, translator, user, prefs, workshop.styles, workshop.default_style, offer_beautify=workshop.can_beautify()
    )
    text += await quota_note(texts, quota, user)
    await edit_text(query.bot, query.message.chat.id, query.message.message_id, text, markup)
    if act == "lang" and query.message.chat.type == "private":
        await set_chat_commands(query.bot, texts, query.message.chat.id)
