"""Prompt tags, styles added while the bot runs, and /describe, through the real bot on the trained tiny-shapes kit.

A user toggles "+ white background" on the style screen, picks a style and gets pictures whose caption names the
tag; under the results the tags are toggles too, and a tap draws the same prompt and seed again with the tag
switched. A style the administrator adds to the styles file (as `train-style` does) shows in every user's style
keyboard without a restart. A photo of a red circle, described (📝 Describe, or /describe as its caption or in
reply to it), gets "a red circle on a white background" among its prompts, and a tap on it draws red circles on
white. Both languages.
"""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest
import yaml
from e2e.helpers import fast_env
from fakegram import FakeTelegram, FakeUser
from pixels import background_share, picture, subject_share

from engine.training.shapes import KIT, draw

pytestmark = pytest.mark.asyncio(loop_scope="module")

ADMIN_TAGS = """
tags:
  - id: black-bg
    name: {en: "black background", ru: "чёрный фон"}
    prompt: "on a black background"
"""


def add_style(styles_file: Path, record: dict) -> None:
    """What `python -m engine train-style` does at its end: one more record in the administrator's file."""
    data = yaml.safe_load(styles_file.read_text())
    data["styles"].append({"prompt": "{prompt}", **record})
    styles_file.write_text(yaml.safe_dump(data, allow_unicode=True))


async def delivered(user: FakeUser) -> tuple[str, object]:
    """The caption of the next pictures and the message with their buttons (it replies to them). Found from the
    buttons: the status message may have turned into a live preview photo before the pictures came, and a status
    message replies to the pressed buttons."""
    buttons = await user.next_message(
        lambda m: m.method == "sendMessage" and m.buttons != [] and "photo" in m.message.get("reply_to_message", {}),
        timeout=150,
    )
    pictures = user.tg.message(user.chat_id, buttons.message["reply_to_message"]["message_id"]) or {}
    return pictures.get("caption", ""), buttons


def meta(caption: str) -> str:
    """The caption's line with the style and the seeds."""
    return next(line for line in caption.splitlines() if "🌱" in line)


@pytest.fixture(scope="module")
def bot_env(engine_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    styles = tmp_path_factory.mktemp("admin") / "styles.yaml"
    styles.write_text((KIT.parent / "tiny-shapes-styles.yaml").read_text() + ADMIN_TAGS)
    return fast_env(engine_cache, ENGINE_MODEL="tiny-shapes", ENGINE_STYLES_FILE=str(styles), ENGINE_QUALITY_STEPS="8")


async def test_a_tag_chosen_on_the_style_screen_reaches_the_pictures_and_toggles_under_them(tg: FakeTelegram, bot):
    user = FakeUser(tg, 1201)
    await user.send_text("a blue circle")
    screen = await user.next_message(lambda m: m.buttons != [])
    assert "+ black background" in screen.labels and "− text" in screen.labels
    await user.press(screen, "+ black background")
    await user.next_edit()
    assert "✓ + black background" in user.buttons(screen)

    await user.press(screen, "No style")
    caption, buttons = await delivered(user)
    assert "🏷 + black background" in caption
    assert "✓ + black background" in buttons.labels

    await user.press(buttons, "black background")  # off again: the same prompt and seed without it
    again, again_buttons = await delivered(user)
    assert "🏷" not in again
    assert meta(again) == meta(caption)  # the same style and seeds
    assert "+ black background" in again_buttons.labels and "✓ + black background" not in again_buttons.labels


async def test_russian_users_see_the_tags_in_russian(tg: FakeTelegram, bot):
    user = FakeUser(tg, 1202, language_code="ru")
    await user.send_text("a red square")
    screen = await user.next_message(lambda m: m.buttons != [])
    assert "+ чёрный фон" in screen.labels and "− текст" in screen.labels
    await user.press(screen, "+ чёрный фон")
    await user.next_edit()
    await user.press(screen, "Без стиля")
    caption, _ = await delivered(user)
    assert "🏷 + чёрный фон" in caption


async def test_a_style_added_to_the_styles_file_appears_without_a_restart(tg: FakeTelegram, bot, bot_env):
    add_style(Path(bot_env["ENGINE_STYLES_FILE"]), {"id": "brand", "name": {"en": "Brand look", "ru": "Фирменный"}})
    for user_id, language, name in ((1203, "en", "Brand look"), (1204, "ru", "Фирменный")):
        user = FakeUser(tg, user_id, language_code=language)
        await user.send_text("a green triangle")
        screen = await user.next_message(lambda m: m.buttons != [])
        labels = screen.labels
        while name not in labels and "▶" in labels:  # the new style is on the last page
            await user.press(screen, "▶")
            await user.next_edit()
            labels = user.buttons(screen)
        assert name in labels


def photo_of(colour: str, shape: str, background: str) -> bytes:
    """A user's photo of a flat shape, bigger than the kit draws (the captioner reads any size)."""
    out = io.BytesIO()
    draw(colour, shape, background, random.Random(5), size=320).save(out, format="PNG")
    return out.getvalue()


def pictures_of(user: FakeUser, buttons) -> list:
    """The pictures the message with their buttons replies to: its album's photos, in order."""
    first = user.tg.message(user.chat_id, buttons.message["reply_to_message"]["message_id"]) or {}
    album = [first]
    while (after := user.tg.message(user.chat_id, album[-1]["message_id"] + 1)) and "photo" in after:
        if after.get("media_group_id") is None or after.get("media_group_id") != first.get("media_group_id"):
            break
        album.append(after)
    return [picture(user.tg.file(m["photo"][-1]["file_id"]).data) for m in album if "photo" in m]


async def described(user: FakeUser) -> object:
    return await user.next_message(lambda m: m.buttons != [] and "📝" in (m.text or ""), timeout=60)


async def test_a_described_photo_offers_prompts_and_a_tap_draws_one(tg: FakeTelegram, bot):
    user = FakeUser(tg, 1211)
    photo = await user.send_photo(photo_of("red", "circle", "white"))
    choices = await user.next_message(lambda m: m.buttons != [])
    await user.press(choices, "📝 Describe")
    prompts = await described(user)
    assert "Prompts that describe this picture" in prompts.text
    assert 1 <= len(prompts.labels) <= 3 and len(set(prompts.labels)) == len(prompts.labels)
    assert prompts.labels[0] == "1. a red circle on a white background"
    assert "a red circle on a white background" in prompts.text
    assert prompts.message["reply_to_message"]["message_id"] == choices.message_id != photo["message_id"]

    await user.press(prompts, "a red circle on a white background")
    screen = await user.next_message(lambda m: m.buttons != [])  # a new user: the style screen, as for a typed prompt
    assert "a red circle on a white background" in screen.text
    await user.press(screen, "No style")
    caption, buttons = await delivered(user)
    assert "a red circle on a white background" in caption
    pictures = pictures_of(user, buttons)
    drawn = [background_share(p, "white") > 0.8 and subject_share(p, "red") > 0.6 for p in pictures]
    assert len(pictures) == 4 and sum(drawn) >= 3, drawn  # what the prompt says, as the pictures show


async def test_describe_as_a_caption_or_a_reply_in_russian(tg: FakeTelegram, bot):
    user = FakeUser(tg, 1212, language_code="ru")
    await user.send_photo(photo_of("blue", "square", "black"), caption="/describe")
    prompts = await described(user)
    assert "Запросы, которые описывают эту картинку" in prompts.text
    assert prompts.labels[:2] == ["1. a blue square on a black background", "2. a blue square"]
    await user.press(prompts, "2. a blue square")
    screen = await user.next_message(lambda m: m.buttons != [])
    assert "Выберите стиль для:\na blue square\n" in screen.text + "\n" and "Без стиля" in " ".join(screen.labels)

    photo = await user.send_photo(photo_of("yellow", "triangle", "white"))
    await user.next_message(lambda m: m.buttons != [])  # the photo's choices
    await user.send_command("/describe", reply_to=photo)
    prompts = await described(user)
    assert prompts.labels[0] == "1. a yellow triangle on a white background"


async def test_describe_without_a_photo_says_how_in_both_languages(tg: FakeTelegram, bot):
    for user_id, language, how in ((1213, "en", "Send a photo with /describe"), (1214, "ru", "Пришлите фото")):
        user = FakeUser(tg, user_id, language_code=language)
        await user.send_command("/describe")
        assert how in (await user.next_message()).text
        text = await user.send_text("a green circle")
        await user.next_message(lambda m: m.buttons != [])  # its style screen
        await user.send_command("/describe", reply_to=text)  # a reply to a text, not a photo
        assert how in (await user.next_message()).text
