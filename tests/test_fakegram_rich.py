"""The fake Bot API models sendRichMessage and ephemeral messages strictly, from aiogram's own models: what
aiogram sends validates, what it answers parses, and what Telegram would refuse is refused here too."""

from __future__ import annotations

import pytest
import pytest_asyncio
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import (
    BufferedInputFile,
    EphemeralMessageParameters,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    InputRichBlockCollage,
    InputRichBlockParagraph,
    InputRichBlockPhoto,
    InputRichMessage,
    RichTextBold,
)
from fakegram import FakeTelegram
from fakegram import fixtures as fakegram_fixtures

fake_tg = fakegram_fixtures.fake_tg


def png(sample_bytes) -> BufferedInputFile:
    return BufferedInputFile(sample_bytes("chelsea.png"), "p.png")


@pytest_asyncio.fixture(loop_scope="function")
async def bot(fake_tg: FakeTelegram):
    session = AiohttpSession(api=TelegramAPIServer.from_base(fake_tg.base_url))
    bot = Bot(fake_tg.token, session=session)
    yield bot
    await session.close()


async def test_a_collage_with_buttons_round_trips_through_aiogram(fake_tg: FakeTelegram, bot: Bot, sample_bytes):
    fake_tg.add_chat({"id": 5, "type": "private", "first_name": "Ann"})
    photos = [InputRichBlockPhoto(photo=InputMediaPhoto(media=png(sample_bytes))) for _ in range(2)]
    rich = InputRichMessage(
        blocks=[InputRichBlockCollage(blocks=photos), InputRichBlockParagraph(text=RichTextBold(text="a cat"))]
    )
    keyboard = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="V1", callback_data="r:x:vary")]])
    sent = await bot.send_rich_message(5, rich, reply_markup=keyboard)
    assert sent.rich_message is not None and sent.reply_markup is not None
    assert sent.reply_markup.inline_keyboard[0][0].callback_data == "r:x:vary"
    collage = sent.rich_message.blocks[0]
    assert collage.type == "collage" and len(collage.blocks) == 2
    assert fake_tg.file(collage.blocks[0].photo[-1].file_id).data == sample_bytes("chelsea.png")


async def test_what_telegram_would_refuse_is_refused(fake_tg: FakeTelegram, bot: Bot, sample_bytes):
    fake_tg.add_chat({"id": 5, "type": "private", "first_name": "Ann"})
    with pytest.raises(TelegramBadRequest, match="exactly one"):
        await bot.send_rich_message(5, InputRichMessage(html="<p>x</p>", blocks=[InputRichBlockParagraph(text="x")]))
    one = [InputRichBlockPhoto(photo=InputMediaPhoto(media=png(sample_bytes)))]
    with pytest.raises(TelegramBadRequest, match="collage"):
        await bot.send_rich_message(5, InputRichMessage(blocks=[InputRichBlockCollage(blocks=one)]))
    with pytest.raises(TelegramBadRequest, match="unknown field"):
        await bot.send_rich_message(5, InputRichMessage(blocks=[InputRichBlockParagraph(text="x", colour="red")]))
    with pytest.raises(TelegramBadRequest, match="ephemeral messages are for groups"):
        await bot.send_message(5, "no", ephemeral_message_parameters=EphemeralMessageParameters(receiver_user_id=5))


async def test_an_ephemeral_message_is_kept_apart_from_the_group(fake_tg: FakeTelegram, bot: Bot):
    fake_tg.group(-100777, "Team")
    sent = await bot.send_message(
        -100777, "only you", ephemeral_message_parameters=EphemeralMessageParameters(receiver_user_id=9)
    )
    assert sent.message_id == 0 and sent.receiver_user is not None and sent.receiver_user.id == 9
    assert sent.ephemeral_message_id and fake_tg.chat_history(-100777) == []
