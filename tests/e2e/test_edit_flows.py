"""✏️ Edit in chat: a user likes a picture but wants it changed, says so in a sentence (Russian or English), and
gets the edited pictures with the usual buttons; an edit can be edited again; a photo of their own too."""

from __future__ import annotations

import io

import pytest
from e2e.helpers import draw, needs, results, shown
from fakegram import FakeTelegram, FakeUser
from PIL import Image

pytestmark = [pytest.mark.asyncio(loop_scope="module"), needs("edit")]


async def edit(user: FakeUser, under, picture: str | None, instruction: str, locale: str = "en"):
    """Press ✏️ Edit under results (and the picture, where there are several), answer the question."""
    await user.press(under, shown(locale, "btn-edit"))
    if picture is not None:
        menu = await user.next_edit(lambda m: m.message_id == under.message_id)
        assert menu.text == shown(locale, "results-pick-edit")
        await user.press(under, picture)
    question = await user.next_message(lambda m: m.method == "sendMessage")
    n = int(picture or 1)
    assert question.text == shown(locale, "ask-edit", n=n)
    await user.send_text(instruction)
    return await results(user)


async def test_edit_a_picture_in_english_then_edit_the_edit(tg: FakeTelegram, bot):
    user = FakeUser(tg, 1401)
    _, under = await draw(user, "a red fox in a forest")
    album, under2 = await edit(user, under, "2", "make it night")
    assert len(album.photos) == 4, "as many edited pictures as the user's settings say"
    assert "✏️ Edit" in album.text and "✏️ make it night" in album.text
    assert "a red fox in a forest" in album.text, "the picture's own prompt, changed"
    assert shown("en", "btn-edit") in " ".join(under2.labels), "an edit has the usual buttons, Edit among them"
    assert shown("en", "btn-region") not in " ".join(under2.labels), "no Mini App without PUBLIC_URL"
    again, under3 = await edit(user, under2, "1", "add snow")
    assert "✏️ add snow" in again.text
    size = Image.open(io.BytesIO(again.photos[0])).size
    assert size == Image.open(io.BytesIO(album.photos[0])).size, "an edit keeps the picture's size"
    assert under3.buttons


async def test_edit_in_russian(tg: FakeTelegram, bot):
    user = FakeUser(tg, 1402, language_code="ru")
    _, under = await draw(user, "рыжий кот на диване", style="Без стиля")
    album, _ = await edit(user, under, "3", "сделай кота чёрным", locale="ru")
    assert "✏️ Изменение" in album.text and "✏️ сделай кота чёрным" in album.text


async def test_edit_a_users_own_photo(tg: FakeTelegram, bot, sample_bytes):
    user = FakeUser(tg, 1403)
    await user.send_photo(sample_bytes("chelsea.png"))
    choices = await user.next_message()
    await user.press(choices, shown("en", "btn-photo-edit"))
    question = await user.next_message(lambda m: m.method == "sendMessage")
    assert question.text == shown("en", "ask-edit-photo")
    await user.send_text("make the cat black")
    album, under = await results(user)
    assert "✏️ make the cat black" in album.text
    assert Image.open(io.BytesIO(album.photos[0])).size[0] > Image.open(io.BytesIO(album.photos[0])).size[1]
    assert shown("en", "btn-edit") in " ".join(under.labels)


@pytest.mark.parametrize(("locale", "user_id"), [("en", 1404), ("ru", 1405)])
async def test_a_blank_or_overlong_instruction_is_asked_again(tg: FakeTelegram, bot, sample_bytes, locale, user_id):
    user = FakeUser(tg, user_id, language_code=locale)
    await user.send_photo(sample_bytes("coffee.png"))
    choices = await user.next_message()
    await user.press(choices, shown(locale, "btn-photo-edit"))
    await user.next_message(lambda m: m.method == "sendMessage")
    await user.send_text("     ")
    blank = await user.next_message()
    assert blank.text == shown(locale, "edit-empty")
    await user.send_text("x" * 5000)
    overlong = await user.next_message()
    assert overlong.text == shown(locale, "edit-too-long", limit=1000, length=5000)
    await user.send_text("add snow" if locale == "en" else "добавь снег")  # the question still stands
    album, _ = await results(user)
    assert len(album.photos) == 4
