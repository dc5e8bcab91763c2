"""/settings (language, default style, aspect, pictures per request, prompt improvement) and /styles."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot import screens
from bot.commands import set_chat_commands
from bot.guards import OwnScreen
from bot.limits import DailyQuota, quota_note
from bot.records import Prefs
from bot.requests import Requests
from bot.storage import Store
from bot.telegram import answer, bot_of, edit_pressed, pressed_message, sender_id
from keyboards.callbacks import SettingsAct, SettingsCb, unpack_value
from keyboards.common import ASPECT_CHOICES
from keyboards.settings import COUNTS
from locales import LOCALES, Texts, Translator

router = Router(name="settings")
router.callback_query.middleware(OwnScreen())


@router.message(Command("settings"))
async def show_settings(
    message: Message, texts: Texts, prefs: Prefs, translator: Translator, requests: Requests, quota: DailyQuota
):
    text, markup = await _settings_screen(texts, translator, sender_id(message), prefs, requests, quota)
    await message.answer(text, reply_markup=markup)


@router.message(Command("styles"))
async def show_styles(message: Message, texts: Texts, prefs: Prefs, requests: Requests):
    text, markup = screens.styles_screen(texts, sender_id(message), prefs, requests.styles, requests.default_style)
    await message.answer(text, reply_markup=markup)


# ---- the settings screen's buttons: one handler per SettingsAct --------------------------------------------
@router.callback_query(SettingsCb.filter(F.act == SettingsAct.STYLES))
async def style_list(query: CallbackQuery, callback_data: SettingsCb, texts: Texts, prefs: Prefs, requests: Requests):
    await answer(query)
    user, page = query.from_user.id, callback_data.page
    text, markup = screens.styles_screen(texts, user, prefs, requests.styles, requests.default_style, page)
    await edit_pressed(query, text, markup)


@router.callback_query(SettingsCb.filter(F.act == SettingsAct.LANG))
async def set_language(
    query: CallbackQuery, callback_data: SettingsCb, prefs: Prefs, translator: Translator, **context
) -> None:
    if callback_data.locale in LOCALES:
        prefs.locale = callback_data.locale
        context["texts"] = translator[callback_data.locale]
    await _save_and_show(query, prefs, translator=translator, **context)
    chat = pressed_message(query).chat
    if chat.type == "private":  # the command menu in the new language
        describes = context["requests"].can_describe()  # /describe where a captioning model is configured
        await set_chat_commands(bot_of(query), context["texts"], chat.id, describes)


@router.callback_query(SettingsCb.filter(F.act == SettingsAct.STYLE))
async def set_style(query: CallbackQuery, callback_data: SettingsCb, prefs: Prefs, requests: Requests, **context):
    style = unpack_value(callback_data.style)
    if style in requests.styles:
        prefs.style = style
    await _save_and_show(query, prefs, requests=requests, **context)


@router.callback_query(SettingsCb.filter(F.act == SettingsAct.ASPECT))
async def set_aspect(query: CallbackQuery, callback_data: SettingsCb, prefs: Prefs, **context) -> None:
    aspect = unpack_value(callback_data.aspect)
    if aspect in ASPECT_CHOICES:
        prefs.aspect = aspect
    await _save_and_show(query, prefs, **context)


@router.callback_query(SettingsCb.filter(F.act == SettingsAct.COUNT))
async def set_count(query: CallbackQuery, callback_data: SettingsCb, prefs: Prefs, **context) -> None:
    if callback_data.count in COUNTS:
        prefs.count = callback_data.count
    await _save_and_show(query, prefs, **context)


@router.callback_query(SettingsCb.filter(F.act == SettingsAct.BEAUTIFY))
async def toggle_beautify(query: CallbackQuery, prefs: Prefs, requests: Requests, **context) -> None:
    if requests.can_beautify():
        prefs.beautify = not prefs.beautify
    await _save_and_show(query, prefs, requests=requests, **context)


@router.callback_query(SettingsCb.filter(F.act == SettingsAct.ASK_STYLE))
async def toggle_ask_style(query: CallbackQuery, prefs: Prefs, **context) -> None:
    prefs.ask_style = not prefs.ask_style
    await _save_and_show(query, prefs, **context)


@router.callback_query(SettingsCb.filter(F.act == SettingsAct.PREVIEW))
async def toggle_preview(query: CallbackQuery, prefs: Prefs, **context) -> None:
    prefs.preview = not prefs.preview
    await _save_and_show(query, prefs, **context)


@router.callback_query(SettingsCb.filter(F.act == SettingsAct.BACK))
async def back(query: CallbackQuery, prefs: Prefs, **context) -> None:
    await _save_and_show(query, prefs, saved=False, **context)


async def _save_and_show(
    query: CallbackQuery,
    prefs: Prefs,
    texts: Texts,
    translator: Translator,
    requests: Requests,
    store: Store,
    quota: DailyQuota,
    saved: bool = True,
    **_,
) -> None:
    """Keep the preferences (a value the screen does not offer changes nothing) and show the screen again."""
    user = query.from_user.id
    if saved:
        await store.save_prefs(user, prefs)
    await answer(query, texts.plain("settings-saved") if saved else None)
    text, markup = await _settings_screen(texts, translator, user, prefs, requests, quota)
    await edit_pressed(query, text, markup)


async def _settings_screen(
    texts: Texts, translator: Translator, user: int, prefs: Prefs, requests: Requests, quota: DailyQuota
):
    text, markup = screens.settings_screen(
        texts, translator, user, prefs, requests.styles, requests.default_style, offer_beautify=requests.can_beautify()
    )
    return text + await quota_note(texts, quota, user), markup
