"""/history and /favorites: a collage of a user's recent (or starred) results a page at a time; a number brings
that result back with its buttons. One handler per action (keyboards.callbacks.ShelfAct)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, CallbackQuery, InputMediaPhoto, Message

from bot import screens
from bot.delivery import Delivery
from bot.guards import ONCE, OncePerTap, OwnScreen, owned_record
from bot.intake import PictureUnusable
from bot.requests import Requests
from bot.shelf import ShelfPage, page_collage, shelf_page
from bot.storage import Store
from bot.telegram import answer, bot_of, place, pressed_message, sender_id
from keyboards.callbacks import ShelfAct, ShelfCb
from keyboards.history import shelf_keyboard
from locales import Texts

router = Router(name="history")
router.callback_query.middleware(OwnScreen())
router.callback_query.middleware(OncePerTap(quiet=True))


@router.message(Command("history"))
async def history(message: Message, texts: Texts, store: Store, requests: Requests) -> None:
    await _send_page(message, texts, store, requests, starred=False)


@router.message(Command("favorites", "favourites"))
async def favourites(message: Message, texts: Texts, store: Store, requests: Requests) -> None:
    await _send_page(message, texts, store, requests, starred=True)


async def _send_page(message: Message, texts: Texts, store: Store, requests: Requests, starred: bool) -> None:
    user = sender_id(message)
    shelf = await shelf_page(store, user, starred, 0)
    if not shelf.records:
        await message.reply(texts("favorites-empty" if starred else "history-empty"))
        return
    photo = BufferedInputFile(await page_collage(store, shelf.records), filename="easel-history.jpg")
    caption, markup = _screen(texts, user, starred, shelf, requests)
    await message.reply_photo(photo, caption=caption, reply_markup=markup)


def _screen(texts: Texts, user: int, starred: bool, shelf: ShelfPage, requests: Requests):
    caption = screens.shelf_caption(texts, starred, shelf.records, shelf.page, shelf.pages, requests.styles)
    markup = shelf_keyboard(texts, user, starred, [r.id for r in shelf.records], shelf.page, shelf.pages)
    return caption, markup


@router.callback_query(ShelfCb.filter(F.act == ShelfAct.PAGE))
async def turn_page(query: CallbackQuery, callback_data: ShelfCb, texts: Texts, store: Store, requests: Requests):
    await answer(query)
    user, starred = callback_data.user, callback_data.starred
    shelf = await shelf_page(store, user, starred, callback_data.page)
    if not shelf.records:
        return
    photo = BufferedInputFile(await page_collage(store, shelf.records), filename="easel-history.jpg")
    caption, markup = _screen(texts, user, starred, shelf, requests)
    message = pressed_message(query)
    await bot_of(query).edit_message_media(
        InputMediaPhoto(media=photo, caption=caption),
        chat_id=message.chat.id,
        message_id=message.message_id,
        reply_markup=markup,
    )


@router.callback_query(ShelfCb.filter(F.act == ShelfAct.OPEN), flags=ONCE)
async def bring_back(
    query: CallbackQuery, callback_data: ShelfCb, texts: Texts, requests: Requests, delivery: Delivery
) -> None:
    record = await owned_record(query, requests, texts, callback_data.job)
    if record is None:
        return
    await answer(query, texts.plain("picked"))
    message = pressed_message(query)
    try:
        await delivery.bring_back(record, texts, *place(message))
    except PictureUnusable as unusable:
        await delivery.tell(message, query.from_user.id, texts(unusable.key))
