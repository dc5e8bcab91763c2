"""The MAX adapter (bot/max/) driven by aiogram's own Bot, in-process, against the fake MAX Bot API: each Bot API
call the bot makes lands as the MAX call the docs describe, and MAX's updates come back as Telegram's."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from aiogram import Bot, Dispatcher, Router
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import AnswerCallbackQuery
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Message,
    ReplyParameters,
)
from aiohttp import web
from fakemax import FakeMax, MaxUser
from PIL import Image

from bot.config import Settings, StartupError, settings_or_explain
from bot.logs import RedactTokens
from bot.max import IdMap, MaxApi, MaxSession
from bot.max.ids import Kept, RedisIdMap
from bot.max.webhook import MaxWebhook
from bot.messenger import MAX_STAND_IN_TOKEN


@pytest_asyncio.fixture(loop_scope="function")
async def fake() -> AsyncIterator[FakeMax]:
    async with FakeMax() as fake:
        yield fake
    assert not fake.server_errors, "\n".join(fake.server_errors)


def max_bot(fake: FakeMax, ids: IdMap | None = None) -> Bot:
    return Bot(MAX_STAND_IN_TOKEN, session=MaxSession(MaxApi(fake.token, fake.base_url), ids or IdMap()))


def jpeg(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 80, 40)).save(buffer, "JPEG")
    return buffer.getvalue()


def keyboard(*labels: str) -> InlineKeyboardMarkup:
    row = [InlineKeyboardButton(text=t, callback_data=f"x:{t}") for t in labels]
    return InlineKeyboardMarkup(inline_keyboard=[row])


async def test_a_reply_with_buttons_is_one_post_to_the_dialog_chat_with_its_keyboard_and_link(fake: FakeMax):
    user = MaxUser(fake, 5)
    asked = await user.send_text("hello")
    bot = max_bot(fake)
    try:
        [update] = await bot.get_updates(timeout=0)
        incoming = update.message
        assert incoming is not None and incoming.chat.id == user.chat_id and incoming.from_user.id == 5
        sent = await bot.send_message(
            incoming.chat.id,
            "<b>Pick</b> a <tg-spoiler>style</tg-spoiler>",
            reply_markup=keyboard("One", "Two"),
            reply_parameters=ReplyParameters(message_id=incoming.message_id),
        )
        message = await user.next_message()
        assert message.text == "Pick a style" and message.labels == ["One", "Two"]
        assert message.buttons[0][0] == ("One", "x:One") and message.reply_to == asked["body"]["mid"]
        assert message.call.body["text"] == "<b>Pick</b> a style", "a tag MAX does not know is dropped, its text kept"
        assert isinstance(sent.message_id, int) and sent.message_id != incoming.message_id

        await bot.edit_message_reply_markup(chat_id=user.chat_id, message_id=sent.message_id, reply_markup=None)
        edit = await user.next_edit()
        assert edit.call.body == {"text": "<b>Pick</b> a style", "attachments": [], "format": "html"}
        assert fake.messages[message.mid]["body"]["text"] == "Pick a style"
    finally:
        await bot.session.close()


async def test_several_images_in_one_message_are_an_album_and_a_press_and_start_come_through(fake: FakeMax):
    user = MaxUser(fake, 6, locale="ru-RU")
    await user.start()
    await user.send_photos(jpeg((64, 48)), jpeg((48, 64)), caption="two cats")
    bot = max_bot(fake)
    try:
        start, first, second = await bot.get_updates(timeout=0)
        assert start.message.text == "/start" and start.message.from_user.language_code == "ru"
        assert first.message.media_group_id == second.message.media_group_id is not None
        assert first.message.caption == "two cats" and second.message.caption is None
        assert first.message.message_id != second.message.message_id
        data = await bot.download(first.message.photo[-1].file_id)
        assert Image.open(data).size == (64, 48)

        sent = await bot.send_message(user.chat_id, "choose", reply_markup=keyboard("Mix"))
        pressed = await user.press(await user.next_message(), "Mix")
        [press] = await bot.get_updates(timeout=0)
        query = press.callback_query
        assert query.id == pressed and query.data == "x:Mix" and query.message.message_id == sent.message_id
        assert query.message.reply_markup.inline_keyboard[0][0].callback_data == "x:Mix"

        await bot(AnswerCallbackQuery(callback_query_id=query.id))  # no text: MAX refuses an empty answer
        await bot(AnswerCallbackQuery(callback_query_id=query.id, text="Picked"))
        assert user.answers_to(pressed) == [{"notification": "Picked"}]
    finally:
        await bot.session.close()


async def test_the_marker_is_kept_only_once_passed_so_updates_fetched_before_a_crash_come_again(fake: FakeMax):
    user = MaxUser(fake, 7)
    await user.send_text("one")
    ids = IdMap()  # what Redis keeps across a restart
    crashed = max_bot(fake, ids)
    [before] = await crashed.get_updates(timeout=0)  # fetched, never handled: the process dies here
    await crashed.session.close()

    restarted = max_bot(fake, ids)
    try:
        [again] = await restarted.get_updates(timeout=0)
        assert again.update_id == before.update_id and again.message.text == "one"  # HandledOnce knows it
        await user.send_text("two")
        [following] = await restarted.get_updates(timeout=0)
        assert following.message.text == "two", "once the marker is passed, the first one is done"
    finally:
        await restarted.session.close()


async def test_a_429_is_telegrams_retry_after_and_not_ready_is_waited_for_without_a_double(fake: FakeMax):
    user = MaxUser(fake, 8)
    bot = max_bot(fake)
    try:
        fake.fail_next("POST /messages", 429)
        with pytest.raises(TelegramRetryAfter):
            await bot.send_message(user.chat_id, "hi")
        fake.not_ready_next(2)
        media = [InputMediaPhoto(media=BufferedInputFile(jpeg((32, 32)), f"{n}.jpg")) for n in range(3)]
        album = await bot.send_media_group(user.chat_id, media)
        assert len(album) == 3 and {m.message_id for m in album} != {None}
        sent = user.sent_to_me()
        assert len(sent) == 1 and len(sent[0].images) == 3, "one message with three images, sent once"
    finally:
        await bot.session.close()


async def test_an_image_over_maxs_limits_goes_as_a_file_and_a_4k_file_as_a_file(fake: FakeMax):
    user = MaxUser(fake, 9)
    bot = max_bot(fake)
    try:
        await bot.send_photo(user.chat_id, BufferedInputFile(jpeg((7700, 16)), "wide.jpg"), caption="wide")
        wide = await user.next_message()
        assert wide.files and not wide.images and wide.files[0]["filename"] == "wide.jpg"
        preview = await bot.send_photo(user.chat_id, BufferedInputFile(jpeg((64, 64)), "p.jpg"))
        await bot.send_document(
            user.chat_id,
            BufferedInputFile(b"\x89PNG" + b"0" * 100, "easel-1-4k.png"),
            reply_parameters=ReplyParameters(message_id=preview.message_id),
        )
        await user.next_message()
        document = await user.next_message()
        assert document.files[0]["filename"] == "easel-1-4k.png" and document.reply_to is not None
    finally:
        await bot.session.close()


async def test_the_fake_is_strict_where_the_docs_set_a_rule(fake: FakeMax):
    user = MaxUser(fake, 10)
    headers = {"Authorization": fake.token}
    url = f"{fake.base_url}/messages?chat_id={user.chat_id}"
    row = [{"type": "callback", "text": "b", "payload": "p"}] * 8
    bodies = {
        "text over 4000": {"text": "x" * 4001},
        "211 buttons": {"text": "k", "attachments": [{"type": "inline_keyboard", "payload": {"buttons": [row] * 27}}]},
        "a Telegram tag": {"text": "<tg-spoiler>x</tg-spoiler>", "format": "html"},
        "an empty message": {"text": ""},
    }
    async with aiohttp.ClientSession() as http:
        for what, body in bodies.items():
            async with http.post(url, json=body, headers=headers) as response:
                assert response.status == 400, what
        async with http.post(url + f"&access_token={fake.token}", json={"text": "hi"}) as response:
            assert response.status == 401, "the token goes in the Authorization header, not the URL"
        await user.press(await _message_with_button(fake, user, http), "b")
        callback_id = next(iter(fake.callbacks))
        async with http.post(f"{fake.base_url}/answers?callback_id={callback_id}", json={}, headers=headers) as answer:
            assert answer.status == 400, "an answer needs a message or a notification"
        statuses = []
        for _ in range(40):
            async with http.get(f"{fake.base_url}/me", headers=headers) as response:
                statuses.append(response.status)
        assert 429 in statuses, "over 30 requests a second"


async def _message_with_button(fake: FakeMax, user: MaxUser, http: aiohttp.ClientSession) -> dict:
    body = {"text": "k", "attachments": [{"type": "inline_keyboard", "payload": {"buttons": [[{
        "type": "callback", "text": "b", "payload": "p"}]]}}]}  # fmt: skip
    async with http.post(
        f"{fake.base_url}/messages?chat_id={user.chat_id}", json=body, headers={"Authorization": fake.token}
    ) as response:
        return (await response.json())["message"]


async def test_redis_keeps_message_ids_files_and_the_marker_across_a_restart(redis_server):
    first = RedisIdMap.from_url(redis_server.url, ttl_s=600)
    number = await first.message_id("mid.0001")
    await first.put_file("max-abc", "https://files.example/1")
    await first.confirm(41)
    image = {"type": "image", "payload": {"token": "t1"}}
    await first.keep("mid.0001", Kept("<b>Pick</b>", [image]))
    await first.close()
    second = RedisIdMap.from_url(redis_server.url, ttl_s=600)
    try:
        assert await second.message_id("mid.0001") == number and await second.mid(number) == "mid.0001"
        assert await second.message_id("mid.0002") != number
        assert await second.file_url("max-abc") == "https://files.example/1"
        assert await second.marker() == 41 and await second.kept("mid.0001") == ("<b>Pick</b>", [image])
    finally:
        await second.close()


def test_on_max_the_max_lists_apply_and_a_missing_token_is_named(monkeypatch: pytest.MonkeyPatch):
    settings = Settings(
        messenger="max",
        max_token="secret-max-token",
        allowed_user_ids="1,2",
        max_allowed_user_ids="30,40",
        max_admin_user_ids="50",
    )
    assert settings.allowed_user_ids == {30, 40} and settings.admin_user_ids == {50}
    assert Settings(bot_token="1:x", allowed_user_ids="1,2").allowed_user_ids == {1, 2}
    monkeypatch.setenv("MESSENGER", "max")
    monkeypatch.delenv("MAX_TOKEN", raising=False)
    with pytest.raises(StartupError, match="MAX_TOKEN is not set"):
        settings_or_explain()
    monkeypatch.setenv("MAX_TOKEN", "secret-max-token")
    monkeypatch.setenv("WEBHOOK_URL", "http://bot.example.com/max")
    with pytest.raises(StartupError, match="https://"):
        settings_or_explain()
    assert "secret-max-token" not in RedactTokens(("secret-max-token",)).redact("Authorization: secret-max-token")


async def test_in_webhook_mode_max_posts_updates_with_its_secret_and_the_dispatcher_answers(fake: FakeMax):
    bot, dp, router = max_bot(fake), Dispatcher(), Router()

    @router.message()
    async def echo(message: Message) -> None:
        await message.answer(f"got {message.text}")

    dp.include_router(router)
    app = web.Application()
    MaxWebhook(dp, bot, secret_token="s3cret-Value_1").register(app, path="/max")
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/max"  # type: ignore[union-attr]
    user = MaxUser(fake, 11)
    try:
        await bot.get_me()
        await bot.set_webhook(url, secret_token="s3cret-Value_1")
        assert fake.subscriptions[0]["url"] == url and fake.subscriptions[0]["secret"] == "s3cret-Value_1"
        await user.send_text("ping")
        assert (await user.next_message()).text == "got ping"
        assert fake.deliveries[-1][0] == 200
        async with aiohttp.ClientSession() as http, http.post(url, json={"update_type": "x"}) as forged:
            assert forged.status == 401, "a POST without MAX's secret header is refused"

        await bot.delete_webhook()  # back to long polling: MAX polls nothing while subscribed
        assert fake.subscriptions == []
        await user.send_text("again")
        [update] = await bot.get_updates(timeout=0)
        assert update.message.text == "again"
    finally:
        await runner.cleanup()
        await bot.session.close()


async def test_a_text_over_maxs_4000_characters_is_cut_and_the_bots_own_messages_are_not_updates(fake: FakeMax):
    user = MaxUser(fake, 12)
    bot = max_bot(fake)
    try:
        me = await bot.get_me()
        await bot.send_message(user.chat_id, "<b>" + "word " * 819 + "</b>")  # 4102 characters, as Telegram allows
        long = await user.next_message()
        assert len(long.call.body["text"]) <= 4000 and long.call.body["text"].endswith("…")
        mine = {"sender": fake.me, "recipient": {"chat_id": user.chat_id, "chat_type": "dialog"},
                "body": {"mid": fake.new_mid(), "seq": 1, "text": "echo", "attachments": []}}  # fmt: skip
        await fake.push({"update_type": "message_created", "message": mine})
        await user.send_text("mine")
        [update] = await bot.get_updates(timeout=0)
        assert update.message.text == "mine" and me.id == fake.me["user_id"]
    finally:
        await bot.session.close()
