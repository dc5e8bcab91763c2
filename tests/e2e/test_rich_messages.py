"""On a Bot API server that speaks 10.3/10.2 (RICH_MESSAGES, EPHEMERAL_MESSAGES): the pictures and their buttons
come as one rich message (a collage), its buttons keep working on it, and in a group a refusal meant for one
person is an ephemeral message only they see. The fake models both strictly from aiogram's own method models."""

from __future__ import annotations

import pytest
from e2e.helpers import TRANSLATOR, a_prompt_still_works, decoded, results, shown
from fakegram import BotMessage, FakeTelegram, FakeUser

pytestmark = pytest.mark.asyncio(loop_scope="module")
BOT_ENV = {"RICH_MESSAGES": "true", "EPHEMERAL_MESSAGES": "true"}
GROUP = -1009876543210


async def rich_results(user: FakeUser, timeout: float = 90) -> BotMessage:  # noqa: ASYNC109
    return await user.next_message(lambda m: m.method == "sendRichMessage", timeout=timeout)


async def test_pictures_and_their_buttons_are_one_message(tg: FakeTelegram, bot):
    user = FakeUser(tg, 1701)
    start = user.mark()
    await user.send_text("a red fox in the snow --ar 3:4")
    screen = await user.next_message()
    await user.press(screen, "Watercolor")
    rich = await rich_results(user)
    assert len(rich.photos) == 4 and rich.message["rich_message"]["blocks"][0]["type"] == "collage"
    width, height = decoded(rich.photos[0]).size
    assert height > width
    assert "a red fox in the snow" in rich.text and "Watercolor" in rich.text and "⚙️ --ar 3:4" in rich.text
    assert "V1" in rich.labels and "4K 1" in rich.labels and "⬇ PNG" in rich.labels
    sends = [c.method for c in tg.calls[start:] if c.chat_id == user.chat_id and c.ok and c.method.startswith("send")]
    assert "sendMediaGroup" not in sends and sends.count("sendRichMessage") == 1

    await user.press(rich, "🔭")
    await user.next_edit()
    kept = tg.message(user.chat_id, rich.message_id)
    assert kept is not None and kept["rich_message"] == rich.message["rich_message"], "the pictures stay"
    assert "« Back" in user.buttons(rich)
    await user.press(rich, "« Back")
    await user.next_edit()
    await user.press(rich, "V2")
    varied = await rich_results(user)
    assert len(varied.photos) == 4 and "Variations" in varied.text


async def test_info_on_a_rich_message_comes_below_it_in_russian(tg: FakeTelegram, bot):
    user = FakeUser(tg, 1702, language_code="ru")
    await user.send_text("снежная сова --n 1 --style аниме --seed 5")
    rich = await rich_results(user)
    assert len(rich.photos) == 1 and rich.message["rich_message"]["blocks"][0]["type"] == "photo"
    await user.press(rich, "ℹ")
    info = await user.next_message()
    assert "Сид: 5" in info.text and info.message["reply_to_message"]["message_id"] == rich.message_id
    assert "♻ Тот же сид" in info.labels


async def test_in_a_group_a_refusal_is_seen_by_its_user_only(tg: FakeTelegram, bot):
    chat = tg.group(GROUP, "Marketing")
    user = FakeUser(tg, 1703, chat=chat)
    start = user.mark()
    await user.send_text("a kite --ar 7:5", mention=True)
    call = await tg.wait_for("sendMessage", lambda c: c.chat_id == GROUP, after=start)
    assert call.ok and call.params["ephemeral_message_parameters"] == {"receiver_user_id": 1703}
    choices = ", ".join(("1:1", "3:4", "4:3", "9:16", "16:9", "2:3", "3:2"))
    assert call.result["receiver_user"]["id"] == 1703 and call.result["message_id"] == 0
    expected = shown("en", "params-aspect", value="7:5", choices=choices, name="", most=0)
    assert tg.ephemerals[-1]["text"] == expected
    assert not [m for m in tg.chat_history(GROUP) if m.get("from", {}).get("is_bot")], "nothing for everyone"
    russian = FakeUser(tg, 1704, chat=chat, language_code="ru")
    await russian.send_text("воздушный змей --n 9", mention=True)
    call = await tg.wait_for("sendMessage", lambda c: c.chat_id == GROUP, after=call.index + 1)
    assert call.params["ephemeral_message_parameters"] == {"receiver_user_id": 1704}
    assert call.params["text"] == TRANSLATOR["ru"]("params-count", value="9", most=4, name="", choices=choices)


async def test_in_a_private_chat_a_refusal_is_an_ordinary_reply(tg: FakeTelegram, bot):
    user = FakeUser(tg, 1705)
    asked = await user.send_text("a kite --seed -3")
    told = await user.next_message()
    assert told.message["reply_to_message"]["message_id"] == asked["message_id"]
    assert "ephemeral_message_parameters" not in told.call.params
    await a_prompt_still_works(user)


async def test_a_server_that_refuses_rich_messages_gets_albums_from_then_on(tg: FakeTelegram, bot):
    """Last in the module: the bot then sends albums for the rest of its run."""
    user = FakeUser(tg, 1709, language_code="ru")
    refused = tg.fail_next("sendRichMessage", 400, "Bad Request: method not found")
    await user.send_text("бумажный журавлик")
    screen = await user.next_message()
    await user.press(screen, "Без стиля")
    album, buttons = await results(user)
    assert refused.hits and len(album.photos) == 4 and "V1" in buttons.labels
    start = user.mark()
    await a_prompt_still_works(user, "ru", album=True)
    assert not [c for c in tg.calls[start:] if c.method == "sendRichMessage"], "no second try per request"
