"""The fake Bot API server, driven by aiogram's own Bot in-process."""

from __future__ import annotations

import asyncio
import io
import os
import time
from pathlib import Path

import pytest
import pytest_asyncio
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.filters import CommandStart
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Message,
    ReplyParameters,
)
from fakegram import BotProcess, FakeTelegram, FakeUser, Upload
from fakegram import fixtures as fakegram_fixtures
from PIL import Image

fake_tg = fakegram_fixtures.fake_tg
SAMPLES = Path(os.environ.get("EASEL_SAMPLES", Path(__file__).resolve().parents[2] / "shared" / "samples"))
CHELSEA = (SAMPLES / "chelsea.png").read_bytes()  # 451 x 300
ROCKET = (SAMPLES / "rocket.jpg").read_bytes()  # 640 x 427


def keyboard(*labels: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=t, callback_data=f"cb:{t.lower()}") for t in labels]]
    )


def make_bot(tg: FakeTelegram, token: str | None = None) -> Bot:
    api = TelegramAPIServer.from_base(tg.base_url)
    return Bot(token or tg.token, session=AiohttpSession(api=api))


async def close_bot(bot: Bot) -> None:
    # AiohttpSession.close() sleeps 0.25 s for TLS shutdown; plain HTTP needs none of that
    if bot.session._session is not None:
        await bot.session._session.close()


@pytest_asyncio.fixture(loop_scope="function")
async def bot(fake_tg: FakeTelegram):
    bot = make_bot(fake_tg)
    yield bot
    await close_bot(bot)


@pytest.fixture
def alice(fake_tg: FakeTelegram) -> FakeUser:
    return FakeUser(fake_tg, 1001, "Alice")


async def test_get_me_and_wrong_token(fake_tg: FakeTelegram, bot: Bot):
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.username) == (123456789, True, "easel_test_bot")
    assert fake_tg.calls_of("getMe")[0].ok
    intruder = make_bot(fake_tg, "42:wrong")
    with pytest.raises(TelegramUnauthorizedError):
        await intruder.get_me()
    await close_bot(intruder)


async def test_long_poll_wakes_on_update_and_honors_offset(fake_tg: FakeTelegram, bot: Bot, alice: FakeUser):
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await fake_tg.wait_for("getUpdates", finished=False)
    started = time.monotonic()
    sent = await alice.send_text("hello")
    updates = await poll
    assert time.monotonic() - started < 2
    assert [u.message.text for u in updates] == ["hello"]
    assert updates[0].message.message_id == sent["message_id"]
    assert updates[0].message.from_user.id == 1001
    # not confirmed yet: delivered again; confirmed by offset: gone
    assert [u.update_id for u in await bot.get_updates(timeout=0)] == [updates[0].update_id]
    await alice.send_command("/start promo")
    rest = await bot.get_updates(offset=updates[0].update_id + 1, timeout=0)
    assert [u.message.text for u in rest] == ["/start promo"]
    assert rest[0].message.entities[0].type == "bot_command"
    assert rest[0].update_id > updates[0].update_id
    assert await bot.get_updates(offset=rest[0].update_id + 1, timeout=0) == []


async def test_send_photo_reports_real_sizes(fake_tg: FakeTelegram, bot: Bot, alice: FakeUser):
    msg = await bot.send_photo(alice.chat_id, BufferedInputFile(CHELSEA, "chelsea.png"), caption="cat")
    assert (msg.photo[-1].width, msg.photo[-1].height) == (451, 300)
    assert max(msg.photo[0].width, msg.photo[0].height) <= 90
    assert msg.caption == "cat" and msg.from_user.is_bot
    call = fake_tg.calls_of("sendPhoto")[-1]
    assert isinstance(call.params["photo"], Upload) and call.params["photo"].data == CHELSEA
    got = await alice.next_photo()
    assert got.photos == [CHELSEA] and got.text == "cat"
    # a file_id the server issued can be sent again
    again = await bot.send_photo(alice.chat_id, msg.photo[-1].file_id)
    assert again.photo[-1].file_id == msg.photo[-1].file_id
    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await bot.send_photo(alice.chat_id, BufferedInputFile(b"not a picture", "x.png"))


async def test_send_media_group(fake_tg: FakeTelegram, bot: Bot, alice: FakeUser):
    media = [
        InputMediaPhoto(media=BufferedInputFile(CHELSEA, "a.png"), caption="two"),
        InputMediaPhoto(media=BufferedInputFile(ROCKET, "b.jpg")),
    ]
    sent = await bot.send_media_group(alice.chat_id, media)
    assert len(sent) == 2 and sent[0].media_group_id == sent[1].media_group_id
    assert [m.photo[-1].width for m in sent] == [451, 640]
    album = await alice.next_album()
    assert album.photos == [CHELSEA, ROCKET] and album.text == "two"
    with pytest.raises(TelegramBadRequest):
        await bot.send_media_group(alice.chat_id, media[:1])


async def test_send_document_and_download(bot: Bot, alice: FakeUser):
    msg = await bot.send_document(alice.chat_id, BufferedInputFile(ROCKET, "rocket-4k.jpg"), caption="full")
    assert (msg.document.file_name, msg.document.mime_type, msg.document.file_size) == (
        "rocket-4k.jpg",
        "image/jpeg",
        len(ROCKET),
    )
    got = await alice.next_document()
    assert got.document == ROCKET and got.document_name == "rocket-4k.jpg"
    buf = await bot.download(msg.document.file_id)
    assert buf.read() == ROCKET


async def test_get_file_and_download_user_photo(bot: Bot, alice: FakeUser):
    await alice.send_photo(CHELSEA, caption="mix me")
    [update] = await bot.get_updates(timeout=1)
    sizes = update.message.photo
    assert len(sizes) == 2 and (sizes[-1].width, sizes[-1].height) == (451, 300)
    file = await bot.get_file(sizes[-1].file_id)
    data = (await bot.download_file(file.file_path)).read()
    with Image.open(io.BytesIO(data)) as im:
        assert (im.format, im.size) == ("JPEG", (451, 300))  # Telegram delivers photos as JPEG


async def test_edit_same_text_is_not_modified(fake_tg: FakeTelegram, bot: Bot, alice: FakeUser):
    msg = await bot.send_message(alice.chat_id, "Working…", reply_markup=keyboard("Cancel"))
    edited = await bot.edit_message_text("Done", chat_id=alice.chat_id, message_id=msg.message_id)
    assert edited.text == "Done" and edited.reply_markup is None  # an edit without markup drops it
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("Done", chat_id=alice.chat_id, message_id=msg.message_id)
    assert fake_tg.message(alice.chat_id, msg.message_id)["text"] == "Done"


async def test_html_and_replies(bot: Bot, alice: FakeUser):
    sent = await alice.send_text("a cat")
    msg = await bot.send_message(
        alice.chat_id,
        "<b>Prompt:</b> a &lt;cat&gt;",
        parse_mode="HTML",
        reply_parameters=ReplyParameters(message_id=sent["message_id"]),
    )
    assert msg.text == "Prompt: a <cat>" and msg.entities[0].type == "bold"
    assert msg.reply_to_message.text == "a cat"
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(alice.chat_id, "a <cat>", parse_mode="HTML")


async def test_injected_429_and_disconnect(fake_tg: FakeTelegram, bot: Bot, alice: FakeUser):
    fake_tg.fail_next("sendMessage", retry_after=3)
    with pytest.raises(TelegramRetryAfter) as err:
        await bot.send_message(alice.chat_id, "hi")
    assert err.value.retry_after == 3
    fake_tg.disconnect_next("sendMessage")
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(alice.chat_id, "hi")
    assert (await bot.send_message(alice.chat_id, "hi")).text == "hi"
    assert [c.status for c in fake_tg.calls_of("sendMessage")] == [429, 0, 200]


async def test_press_button_by_label(fake_tg: FakeTelegram, bot: Bot, alice: FakeUser):
    msg = await bot.send_message(alice.chat_id, "Pick", reply_markup=keyboard("Mix", "Cancel"))
    assert alice.buttons(msg.message_id) == ["Mix", "Cancel"]
    query_id = await alice.press(msg.message_id, "Mi")
    [update] = await bot.get_updates(timeout=1)
    query = update.callback_query
    assert (query.id, query.data, query.from_user.id) == (query_id, "cb:mix", 1001)
    assert query.message.message_id == msg.message_id and query.chat_instance
    assert await query.answer("ok")
    assert alice.answer_of(query_id) == {"text": "ok"}
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await query.answer("again")
    with pytest.raises(AssertionError, match="no button"):
        await alice.press(msg.message_id, "Upscale")
    fake_tg.callback_answer_timeout = 0.0  # Telegram refuses answers that come too late
    late = await alice.press(msg.message_id, "Cancel")
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(late)


async def test_document_over_20mb_cannot_be_downloaded(bot: Bot, alice: FakeUser):
    await alice.send_document(b"\0" * 16, "huge.heic", "image/heic", declared_size=25 * 1024 * 1024)
    [update] = await bot.get_updates(timeout=1)
    assert update.message.document.file_size == 25 * 1024 * 1024
    with pytest.raises(TelegramBadRequest, match="file is too big"):
        await bot.get_file(update.message.document.file_id)


async def test_commands_per_scope_and_language(bot: Bot):
    await bot.set_my_commands([BotCommand(command="start", description="Start")])
    await bot.set_my_commands([BotCommand(command="start", description="Начать")], language_code="ru")
    assert [c.description for c in await bot.get_my_commands()] == ["Start"]
    assert [c.description for c in await bot.get_my_commands(language_code="ru")] == ["Начать"]
    assert await bot.delete_my_commands(language_code="ru")
    assert await bot.get_my_commands(language_code="ru") == []


async def test_aiogram_dispatcher_polls_and_answers(fake_tg: FakeTelegram, bot: Bot, alice: FakeUser):
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer("Pick a style", reply_markup=keyboard("Watercolor", "Cancel"))

    @router.callback_query(F.data == "cb:watercolor")
    async def pick(query: CallbackQuery) -> None:
        await query.answer("Nice")
        await query.message.edit_text("Watercolor it is")

    dp = Dispatcher()
    dp.include_router(router)
    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, close_bot_session=False))
    try:
        await alice.send_command("/start")
        menu = await alice.next_message()
        assert menu.text == "Pick a style" and menu.labels == ["Watercolor", "Cancel"]
        query_id = await alice.press(menu, "Water")
        edit = await alice.next_edit()
        assert edit.text == "Watercolor it is" and alice.answer_of(query_id)["text"] == "Nice"
        assert sorted(fake_tg.calls_of("getUpdates")[-1].params["allowed_updates"]) == ["callback_query", "message"]
    finally:
        await dp.stop_polling()
        await polling


ECHO_BOT = """
import json, os, signal, sys, urllib.parse, urllib.request
base = f"{os.environ['TELEGRAM_API_URL']}/bot{os.environ['BOT_TOKEN']}/"
def call(method, **params):
    data = urllib.parse.urlencode({k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()})
    with urllib.request.urlopen(base + method, data.encode(), timeout=30) as response:
        return json.load(response)["result"]
signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))
print("echo bot", call("getMe")["username"], flush=True)
offset = 0
while True:
    for update in call("getUpdates", offset=offset, timeout=5):
        offset = update["update_id"] + 1
        chat_id = update["message"]["chat"]["id"]
        call("sendMessage", chat_id=chat_id, text=os.environ["GREETING"] + update["message"]["text"])
"""


async def test_bot_process_harness(fake_tg: FakeTelegram, alice: FakeUser, tmp_path: Path):
    script = tmp_path / "echo_bot.py"
    script.write_text(ECHO_BOT)
    proc = await BotProcess(fake_tg, env={"GREETING": "echo: "}, args=(str(script),)).start()
    try:
        await proc.wait_ready(timeout=30)
        await alice.send_text("hi")
        assert (await alice.next_message()).text == "echo: hi"
        code, elapsed = await proc.terminate(timeout=10)
        assert code == 3 and elapsed < 5
        assert "echo bot easel_test_bot" in proc.logs()
    finally:
        await proc.close()
    crashing = await BotProcess(fake_tg, args=("-c", "raise SystemExit('no token for you')")).start()
    with pytest.raises(RuntimeError, match="no token for you"):
        await crashing.wait_ready(timeout=30)


async def test_group_mentions_replies_and_lone_album_item(fake_tg: FakeTelegram, bot: Bot):
    group = fake_tg.group(-1001234567890, "Artists")
    bob = FakeUser(fake_tg, 2002, "Bob", chat=group)
    await bob.send_text("draw a fox", mention=True)
    await bob.send_command("/start")
    first, second = await bot.get_updates(timeout=1)
    assert first.message.chat.type == "supergroup" and first.message.text == "@easel_test_bot draw a fox"
    assert first.message.entities[0].type == "mention"
    assert second.message.text == "/start@easel_test_bot"
    reply = await first.message.reply("On it")
    assert reply.reply_to_message.message_id == first.message.message_id
    await bob.send_text("thanks", reply_to=reply.message_id)
    [update] = await bot.get_updates(offset=second.update_id + 1, timeout=1)
    assert update.message.reply_to_message.text == "On it"
    fake_tg.strict_albums = False  # as Telegram: one item is sent as a lone message
    [lone] = await bot.send_media_group(group["id"], [InputMediaPhoto(media=BufferedInputFile(ROCKET, "r.jpg"))])
    assert lone.media_group_id is None and lone.photo
    assert [m["message_id"] for m in fake_tg.chat_history(group["id"])] == [1, 2, 3, 4, 5]


async def test_blocked_user_gets_403(fake_tg: FakeTelegram, bot: Bot, alice: FakeUser):
    await alice.block()
    [update] = await bot.get_updates(timeout=1)
    assert update.my_chat_member.new_chat_member.status == "kicked"
    with pytest.raises(TelegramForbiddenError, match="blocked"):
        await bot.send_message(alice.chat_id, "still there?")
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(FakeUser(fake_tg, 1002).chat_id, "x", reply_markup=keyboard("y" * 70))
    assert fake_tg.chat_history(1002) == []
