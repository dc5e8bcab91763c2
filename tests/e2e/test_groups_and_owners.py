"""In a group the bot answers when mentioned or replied to, and buttons act only for the request's owner.

This module's bot keeps FSM state and job records in a real Redis (REDIS_URL), as in production.
"""

from __future__ import annotations

import pytest
from e2e.helpers import results
from fakegram import FakeTelegram, FakeUser

pytestmark = pytest.mark.asyncio(loop_scope="module")
GROUP = -1001234567890
BOT_REDIS = True


def members(tg: FakeTelegram, *ids: int) -> list[FakeUser]:
    chat = tg.group(GROUP, "Design team")
    return [FakeUser(tg, user_id, first_name=f"User{user_id}", chat=chat) for user_id in ids]


def sends_to_group(tg: FakeTelegram) -> int:
    return len([c for c in tg.calls if c.method.startswith("send") and c.chat_id == GROUP and c.ok])


async def test_the_bot_answers_mentions_and_replies_only(tg: FakeTelegram, bot):
    (owner,) = members(tg, 401)
    chatter = await owner.send_text("anyone for lunch?")
    asked = await owner.send_text("a rocket over the city", mention=True)
    screen = await owner.next_message()
    assert screen.message["reply_to_message"]["message_id"] == asked["message_id"]
    assert "a rocket over the city" in screen.text and "@easel_test_bot" not in screen.text

    await owner.send_text("a quiet harbour", reply_to=screen.message_id)
    second = await owner.next_message()
    assert "a quiet harbour" in second.text

    await owner.send_command("/help")
    assert "How it works" in (await owner.next_message()).text
    replies = [c for c in tg.calls if c.chat_id == GROUP and c.ok and c.method.startswith("send")]
    assert all((c.params.get("reply_parameters") or {}).get("message_id") != chatter["message_id"] for c in replies), (
        "a message not addressed to the bot gets no answer"
    )


async def test_a_stranger_pressing_someone_elses_buttons_changes_nothing(tg: FakeTelegram, bot):
    owner, stranger = members(tg, 402, 403)
    await owner.send_text("a lantern festival", mention=True)
    screen = await owner.next_message()

    before = len(tg.calls)
    query = await stranger.press(screen, "Anime")
    await tg.wait_for("answerCallbackQuery", lambda c: c.params["callback_query_id"] == query, after=before)
    assert "someone else" in stranger.answer_of(query)["text"]
    assert stranger.answer_of(query).get("show_alert")
    assert not [c for c in tg.calls[before:] if c.method.startswith(("edit", "send"))]
    assert "Anime" in owner.buttons(screen), "the style screen is untouched"

    await owner.press(screen, "Anime")
    album, buttons = await results(owner)
    assert album.chat_id == GROUP and "a lantern festival" in album.text

    sent = sends_to_group(tg)
    for label in ("🔄", "🎨 Style"):
        query = await stranger.press(buttons, label)
        await tg.wait_for("answerCallbackQuery", lambda c, q=query: c.params["callback_query_id"] == q)
        assert "someone else" in stranger.answer_of(query)["text"]
    await owner.send_command("/help")  # a later update: everything before it has been handled
    await owner.next_message(lambda m: "How it works" in (m.text or ""))
    assert sends_to_group(tg) == sent + 1, "the stranger's presses sent nothing"


async def test_a_stranger_cannot_change_someone_elses_settings(tg: FakeTelegram, bot):
    owner, stranger = members(tg, 404, 405)
    await owner.send_command("/settings")
    settings = await owner.next_message()
    query = await stranger.press(settings, "Русский")
    await tg.wait_for("answerCallbackQuery", lambda c: c.params["callback_query_id"] == query)
    assert "someone else" in stranger.answer_of(query)["text"]
    assert "✓ English" in owner.buttons(settings)


async def test_an_album_with_a_mention_is_mixed_in_a_group(tg: FakeTelegram, bot, sample_bytes):
    (owner,) = members(tg, 406)
    await owner.send_album(
        [sample_bytes("chelsea.png"), sample_bytes("rocket.jpg")], caption="@easel_test_bot a space cat"
    )
    pair = await owner.next_message()
    assert "Just the last photo" in pair.labels
    assert "a space cat" in pair.text or "not available" in pair.text


async def test_a_button_of_an_expired_request_says_so_politely(tg: FakeTelegram, bot):
    user = FakeUser(tg, 407)
    keyboard = {"inline_keyboard": [[{"text": "V1", "callback_data": "r:gone1234:vary:1:::0"}]]}
    old = tg.store_message(user.chat, tg.me, {"text": "What next?", "reply_markup": keyboard})
    query = await user.press(old, "V1")
    await tg.wait_for("answerCallbackQuery", lambda c: c.params["callback_query_id"] == query)
    assert "too old" in user.answer_of(query)["text"]
