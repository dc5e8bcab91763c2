"""A user writes a prompt, taps a style and gets an album; the buttons under it make more."""

from __future__ import annotations

import asyncio
import re

import pytest
from e2e.helpers import decoded, draw, needs, results, sizes
from fakegram import NOT_MODIFIED, QUERY_TOO_OLD, FakeTelegram, FakeUser

from engine.images import read_parameters

pytestmark = pytest.mark.asyncio(loop_scope="module")


def seeds_of(caption: str) -> list[int]:
    return [int(seed) for seed in re.findall(r"\d{3,}", caption.splitlines()[-1])]


async def test_start_greets_with_three_examples_and_sets_the_menu_per_language(tg: FakeTelegram, bot):
    user = FakeUser(tg, 101, first_name="Anna")
    await user.send_command("/start")
    greeting = await user.next_message()
    assert "Hi, Anna" in greeting.text
    assert len(greeting.labels) == 3
    menus = {language: commands for (_, language), commands in tg.commands.items()}
    assert {"en", "ru", ""} <= set(menus)
    assert [c["command"] for c in menus["en"]] == [
        "start",
        "help",
        "settings",
        "styles",
        "history",
        "favorites",
        "cancel",
    ]
    assert menus["ru"][0]["description"] == "Начало и примеры"

    await user.press(greeting, "red fox")
    screen = await user.next_message(lambda m: m.buttons != [])
    assert "a red fox in a snowy forest at dawn" in screen.text
    assert "No style" in screen.labels[0]


async def test_text_becomes_an_album_of_four_pictures_with_buttons(tg: FakeTelegram, bot):
    user = FakeUser(tg, 102)
    prompt = "a red <b>fox</b> & friends"
    await user.send_text(prompt)
    screen = await user.next_message()
    assert prompt in screen.text  # escaped by the bot, shown literally
    assert "1/2" in screen.labels and "✓ 1:1" in screen.labels and "✨ Improve prompt: off" in screen.labels

    await user.press(screen, "Anime")
    status = await user.next_edit()
    assert status.message_id == screen.message_id
    assert status.labels == ["✖ Cancel"]
    assert any(word in status.text for word in ("in line", "Starting", "Drawing"))

    album, buttons = await results(user)
    assert album.method == "sendMediaGroup"
    assert sizes(album) == [(128, 128)] * 4
    assert prompt in album.text and "Anime" in album.text
    seeds = seeds_of(album.text)
    assert len(seeds) == 4 and seeds == list(range(seeds[0], seeds[0] + 4))
    assert "🔄" in buttons.labels and "🎨 Style" in buttons.labels
    assert max(len(row) for row in buttons.buttons) <= 4, "fits a phone screen"
    removed = await tg.wait_for("deleteMessage", lambda c: c.params.get("message_id") == status.message_id)
    assert removed.chat_id == user.chat_id and tg.message(user.chat_id, status.message_id) is None


async def test_aspect_page_and_improve_toggles_shape_the_request(tg: FakeTelegram, bot):
    user = FakeUser(tg, 103)
    await user.send_text("a lighthouse in a storm")
    screen = await user.next_message()
    await user.press(screen, "16:9")
    await user.next_edit()
    assert "✓ 16:9" in user.buttons(screen) and "1:1" in user.buttons(screen)
    await user.press(screen, "▶")
    await user.next_edit()
    assert "Comic book" in user.buttons(screen) and "2/2" in user.buttons(screen)
    await user.press(screen, "Improve prompt")
    await user.next_edit()
    assert "✨ Improve prompt: on" in user.buttons(screen)

    await user.press(screen, "Comic book")
    album, _ = await results(user)
    assert len(album.photos) == 4
    width, height = decoded(album.photos[0]).size
    assert width > height
    assert "Comic book" in album.text


async def test_reroll_draws_the_same_prompt_with_new_seeds(tg: FakeTelegram, bot):
    user = FakeUser(tg, 104)
    album, buttons = await draw(user, "a bowl of ramen")
    await user.press(buttons, "🔄")
    again, _ = await results(user)
    assert "a bowl of ramen" in again.text
    assert len(again.photos) == 4
    assert set(seeds_of(again.text)).isdisjoint(seeds_of(album.text))


async def test_another_style_keeps_the_prompt_and_seeds(tg: FakeTelegram, bot):
    user = FakeUser(tg, 105)
    album, buttons = await draw(user, "a castle on a hill")
    await user.press(buttons, "🎨 Style")
    screen = await user.next_message(lambda m: m.buttons != [])
    assert "Another style for" in screen.text and "a castle on a hill" in screen.text
    await user.press(screen, "Watercolor")
    restyled, _ = await results(user)
    assert "Watercolor" in restyled.text and "a castle on a hill" in restyled.text
    assert seeds_of(restyled.text) == seeds_of(album.text)
    assert restyled.photos != album.photos


@needs("vary")
async def test_variations_subtle_and_strong(tg: FakeTelegram, bot):
    user = FakeUser(tg, 106)
    _, buttons = await draw(user, "a paper boat")
    await user.press(buttons, "V2")
    varied, _ = await results(user)
    assert "Variations" in varied.text and len(varied.photos) == 4

    await user.press(buttons, "Strong variations")
    await user.next_edit()
    assert "V1 💥" in user.buttons(buttons)
    await user.press(buttons, "V1 💥")
    strong, _ = await results(user)
    assert len(strong.photos) == 4


@needs("upscale")
async def test_4k_arrives_as_a_file_with_a_preview(tg: FakeTelegram, bot):
    user = FakeUser(tg, 107)
    album, buttons = await draw(user, "a mountain lake")
    await user.press(buttons, "4K 3")
    preview = await user.next_photo(timeout=240)
    assert "4K" in preview.text
    document = await user.next_document(timeout=60)
    assert document.document_name.endswith((".png", ".jpg", ".webp"))
    assert document.message["reply_to_message"]["message_id"] == preview.message_id
    picture = decoded(document.document)
    assert max(picture.size) == 4096
    assert max(decoded(preview.photos[0]).size) < 4096
    # The file names the picture it came from: the third seed of the album's caption, in its name and metadata.
    third = re.findall(r"\d+", album.text.rsplit("🌱", 1)[-1])[2]
    assert document.document_name == f"easel-{third}-4k.png"
    params = read_parameters(document.document)
    assert str(params["seed"]) == str(params["source_seed"]) == third and params["source_picture"] == 3
    assert params["source_job"] and params["mode"] == "upscale"


@needs("zoom")
async def test_zoom_out_extends_one_picture(tg: FakeTelegram, bot):
    user = FakeUser(tg, 108)
    _, buttons = await draw(user, "a tiny house")
    await user.press(buttons, "🔭")
    await user.next_edit()
    await user.press(buttons, "2")
    await user.next_edit()
    assert "🔭 ×2" in user.buttons(buttons)
    await user.press(buttons, "16:9")
    zoomed, zoomed_buttons = await results(user)
    width, height = decoded(zoomed.photos[0]).size
    assert width > height and "Zoom out" in zoomed.text
    await user.press(zoomed_buttons, "🔭")
    await user.next_edit()
    await user.press(zoomed_buttons, "×2")
    further, _ = await results(user)
    assert decoded(further.photos[0]).size[0] > decoded(further.photos[0]).size[1]


@needs("remix")
async def test_remix_asks_for_a_new_prompt_over_the_outlines(tg: FakeTelegram, bot):
    user = FakeUser(tg, 109)
    _, buttons = await draw(user, "a cat on a sofa")
    await user.press(buttons, "🪄")
    await user.next_edit()
    await user.press(buttons, "3")
    question = await user.next_message()
    assert "outlines stay" in question.text
    await user.send_text("a tiger on a sofa")
    screen = await user.next_message(lambda m: m.buttons != [])
    await user.press(screen, "Pencil sketch")
    remixed, _ = await results(user)
    assert "Redrawn over the outlines" in remixed.text and "a tiger on a sofa" in remixed.text


async def test_two_users_at_once_each_get_their_own_pictures(tg: FakeTelegram, bot):
    alice, bob = FakeUser(tg, 110, first_name="Alice"), FakeUser(tg, 111, first_name="Bob")
    await asyncio.gather(alice.send_text("a yellow submarine"), bob.send_text("a green tractor"))
    screens = await asyncio.gather(alice.next_message(), bob.next_message())
    await asyncio.gather(alice.press(screens[0], "No style"), bob.press(screens[1], "Oil painting"))
    (album_a, _), (album_b, _) = await asyncio.gather(results(alice), results(bob))
    assert album_a.chat_id == alice.chat_id and "a yellow submarine" in album_a.text
    assert album_b.chat_id == bob.chat_id and "a green tractor" in album_b.text and "Oil painting" in album_b.text
    assert len(album_a.photos) == len(album_b.photos) == 4


async def test_bad_input_gets_a_clear_answer(tg: FakeTelegram, bot):
    user = FakeUser(tg, 112)
    await user.send_text("x" * 1001)
    assert "too long" in (await user.next_message()).text
    await user.send_command("/frobnicate")
    assert "/help" in (await user.next_message()).text
    await user.send_sticker()
    assert "Send me a text" in (await user.next_message()).text
    await user.send_command("/help")
    assert "How it works" in (await user.next_message()).text


async def test_telegram_hiccups_neither_lose_nor_duplicate_the_album(tg: FakeTelegram, bot):
    """429 on the album (wait and send once), "not modified" on an edit, a press answered too late."""
    user = FakeUser(tg, 114)
    mine = lambda params: int(params.get("chat_id") or 0) == user.chat_id  # noqa: E731
    flood = tg.fail_next("sendMediaGroup", 429, retry_after=1, when=mine)
    same = tg.fail_next("editMessageText", 400, NOT_MODIFIED.removeprefix("Bad Request: "), when=mine)
    await user.send_text("a stormy sea")
    screen = await user.next_message()
    late = tg.fail_next("answerCallbackQuery", 400, QUERY_TOO_OLD)
    await user.press(screen, "Cinematic")
    album, _ = await results(user)
    assert flood.hits and same.hits and late.hits
    assert len(album.photos) == 4 and "a stormy sea" in album.text
    albums = [c for c in tg.calls_of("sendMediaGroup", user.chat_id)]
    assert [c.status for c in albums] == [429, 200], "retried after retry_after, sent exactly once"
    assert albums[1].time - albums[0].time >= 0.9


async def test_the_token_never_reaches_the_log(tg: FakeTelegram, bot):
    """A dropped getUpdates makes aiogram log the request URL, which holds the token."""
    user = FakeUser(tg, 113)
    fault = tg.disconnect_next("getUpdates")
    await user.send_command("/help")  # ends the poll in progress; the next one is dropped
    await user.next_message()
    while not fault.hits:
        await tg.wait_for("getUpdates", after=len(tg.calls), finished=False)
    await tg.wait_for("getUpdates", after=fault.hits[0] + 1, finished=False)
    logs = bot.logs()
    assert "Failed to fetch updates" in logs
    assert tg.token not in logs and tg.token.split(":")[1] not in logs
