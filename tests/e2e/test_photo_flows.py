"""A user sends one photo (choices), two photos (a mix with balance buttons), or something that is not one."""

from __future__ import annotations

import pytest
from e2e.helpers import engine_modes, needs, results, sizes
from fakegram import FakeTelegram, FakeUser

pytestmark = pytest.mark.asyncio(loop_scope="module")
PHOTO_MODES = {"reimagine", "vary", "remix", "photo_prompt", "upscale", "mix"}


async def test_one_photo_gets_the_choices_the_server_can_do(tg: FakeTelegram, bot, sample_bytes):
    user = FakeUser(tg, 201)
    photo = await user.send_photo(sample_bytes("chelsea.png"))
    answer = await user.next_message()
    assert answer.message["reply_to_message"]["message_id"] == photo["message_id"]
    modes = engine_modes()
    if not modes & PHOTO_MODES:
        assert "send me a text" in answer.text and answer.buttons == []
        return
    assert "What shall I do with this photo?" in answer.text
    assert ("Variations" in " ".join(answer.labels)) == bool(modes & {"reimagine", "vary"})
    assert ("Upscale to 4K" in " ".join(answer.labels)) == ("upscale" in modes)
    assert ("Redraw, keep outlines" in " ".join(answer.labels)) == ("remix" in modes)
    assert ("Mix with another photo" in " ".join(answer.labels)) == ("mix" in modes)
    assert "Describe" not in " ".join(answer.labels)  # the tiny kit has no captioning model


async def test_describe_without_a_captioning_model_says_it_is_not_available(tg: FakeTelegram, bot, sample_bytes):
    for user_id, language, text in ((211, "en", "Describing photos is not available"), (212, "ru", "недоступно")):
        user = FakeUser(tg, user_id, language_code=language)
        await user.send_photo(sample_bytes("chelsea.png"), caption="/describe")
        answer = await user.next_message()
        assert text in answer.text and answer.buttons == []


@needs("remix")
async def test_single_photo_restyle_keeps_outlines_with_a_prompt_asked_for(tg: FakeTelegram, bot, sample_bytes):
    user = FakeUser(tg, 202)
    await user.send_photo(sample_bytes("chelsea.png"))
    choices = await user.next_message()
    await user.press(choices, "Redraw, keep outlines")
    question = await user.next_message()
    assert "outlines stay" in question.text
    await user.send_text("a tiger in the grass")
    screen = await user.next_message(lambda m: m.buttons != [])
    await user.press(screen, "Watercolor")
    album, _ = await results(user)
    assert len(album.photos) == 4
    assert (
        "Redrawn over the outlines" in album.text
        and "a tiger in the grass" in album.text
        and "Watercolor" in album.text
    )


@needs("photo_prompt")
async def test_photo_with_a_caption_and_text(tg: FakeTelegram, bot, sample_bytes):
    user = FakeUser(tg, 203)
    await user.send_photo(sample_bytes("coffee.png"), caption="in a snowy winter")
    choices = await user.next_message()
    await user.press(choices, "Photo + text")
    screen = await user.next_message(lambda m: m.buttons != [])
    assert "in a snowy winter" in screen.text
    await user.press(screen, "Cinematic")
    album, _ = await results(user)
    assert "Photo + text" in album.text and "in a snowy winter" in album.text


async def test_photo_variations(tg: FakeTelegram, bot, sample_bytes):
    if not engine_modes() & {"reimagine", "vary"}:
        pytest.skip("engine mode(s) not available yet: reimagine or vary")
    user = FakeUser(tg, 204)
    await user.send_photo(sample_bytes("rocket.jpg"))
    choices = await user.next_message()
    await user.press(choices, "Variations")
    album, _ = await results(user)
    assert len(album.photos) == 4 and "Variations" in album.text


@needs("mix")
async def test_two_photo_album_mixes_and_the_balance_can_change(tg: FakeTelegram, bot, sample_bytes):
    user = FakeUser(tg, 205)
    await user.send_album([sample_bytes("chelsea.png"), sample_bytes("coffee.png")], caption="a cozy morning")
    choices = await user.next_message()
    assert "how shall I mix them" in choices.text and "a cozy morning" in choices.text
    assert choices.labels[:3] == ["30/70", "50/50", "70/30"]
    await user.press(choices, "50/50")
    album, buttons = await results(user)
    assert "Mix 50/50" in album.text and len(album.photos) == 4
    assert "✓ 50/50" in buttons.labels

    await user.press(buttons, "70/30")
    again, again_buttons = await results(user)
    assert "Mix 70/30" in again.text
    assert again.text.splitlines()[-1] == album.text.splitlines()[-1], "same style and seeds, other balance"
    assert again.photos != album.photos
    assert "✓ 70/30" in again_buttons.labels


async def test_photos_one_after_another_offer_a_mix_or_just_the_last(tg: FakeTelegram, bot, sample_bytes):
    user = FakeUser(tg, 206)
    await user.send_photo(sample_bytes("chelsea.png"))
    await user.next_message()
    await user.send_photo(sample_bytes("rocket.jpg"))
    pair = await user.next_message()
    assert "Just the last photo" in pair.labels
    if "mix" in engine_modes():
        assert "how shall I mix them" in pair.text
        assert "50/50" in pair.labels
    else:
        assert "not available" in pair.text
    await user.press(pair, "Just the last photo")
    single = await user.next_message()
    if engine_modes() & {"reimagine", "vary"}:
        await user.press(single, "Variations")
        album, _ = await results(user)
        assert len(album.photos) == 4


@needs("mix")
async def test_mix_with_another_photo_asks_for_the_second(tg: FakeTelegram, bot, sample_bytes):
    user = FakeUser(tg, 210)
    await user.send_photo(sample_bytes("astronaut.png"))
    choices = await user.next_message()
    await user.press(choices, "Mix with another photo")
    assert "second photo" in (await user.next_message()).text
    await user.send_photo(sample_bytes("coffee.png"))
    pair = await user.next_message()
    await user.press(pair, "30/70")
    album, _ = await results(user)
    assert "Mix 30/70" in album.text


async def test_a_third_photo_gets_a_clear_answer(tg: FakeTelegram, bot, sample_bytes):
    user = FakeUser(tg, 207)
    await user.send_album([sample_bytes("chelsea.png"), sample_bytes("coffee.png"), sample_bytes("rocket.jpg")])
    first = await user.next_message()
    second = await user.next_message()
    texts = first.text + "\n" + second.text
    assert "two photos at a time" in texts
    assert "Just the last photo" in first.labels + second.labels


async def test_a_video_a_non_picture_and_a_huge_file_get_clear_answers(tg: FakeTelegram, bot):
    user = FakeUser(tg, 208)
    await user.send_video()
    assert "send a photo" in (await user.next_message()).text
    await user.send_document(b"%PDF-1.4 not a picture", "report.pdf", "application/pdf")
    assert "isn't a picture" in (await user.next_message()).text
    huge = await user.send_document(b"\x89PNG", "huge.png", "image/png", declared_size=25 * 1024 * 1024)
    assert "over 20 MB" in (await user.next_message()).text
    downloads = [call.params.get("file_id") for call in tg.calls_of("getFile")]
    assert huge["document"]["file_id"] not in downloads, "a file over 20 MB is refused before any download"


async def test_a_picture_sent_as_a_file_is_accepted_and_a_broken_one_explained(tg: FakeTelegram, bot, sample_bytes):
    if not engine_modes() & {"reimagine", "vary"}:
        pytest.skip("engine mode(s) not available yet: reimagine or vary")
    user = FakeUser(tg, 209)
    await user.send_document(sample_bytes("astronaut.png"), "astronaut.png", "image/png")
    choices = await user.next_message()
    await user.press(choices, "Variations")
    album, _ = await results(user)
    assert len(sizes(album)) == 4

    await user.send_document(b"\x89PNG\r\n\x1a\n broken", "broken.png", "image/png")
    refused = await user.next_message()  # checked on arrival: no choices to press for a file that cannot be read
    assert "can't read this picture" in refused.text and refused.buttons == []
