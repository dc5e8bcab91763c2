"""Prompt tags, styles added while the bot runs, and /describe, through the real bot on the trained tiny-shapes kit.

A user toggles "+ white background" on the style screen, picks a style and gets pictures whose caption names the
tag; under the results the tags are toggles too, and a tap draws the same prompt and seed again with the tag
switched. A style the administrator adds to the styles file (as `train-style` does) shows in every user's style
keyboard without a restart. An administrator trains a style from pictures sent in the chat (/train_style): the
training gives way to a user's drawing, and then everyone draws in the style, greener; the bot restarted in the middle
of a training offers to resume it, and the style it ends with is drawn in. A photo of a red circle,
described (💬 Describe, or /describe as its caption or in reply to it), gets "a red circle on a white background"
among its prompts, and a tap on it draws red circles on white. Both languages.
"""

from __future__ import annotations

import io
import random
import re
from pathlib import Path

import pytest
import yaml
from e2e.helpers import fast_env
from fakegram import FakeTelegram, FakeUser
from pixels import NAMES, background_share, labels, picture, subject_share

from engine.training.shapes import KIT, SHAPES, draw

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


ADMINS = (1210, 1214)
USERS = (1201, 1202, 1203, 1204, 1211, 1212, 1221, 1222, 1223, 1224, 1225)
# A chat's training on tiny-shapes: few steps, a big batch and a high rate make a style in seconds.
TRAINING = {
    "ENGINE_TRAINING_STEPS": "60",
    "ENGINE_TRAINING_BATCH": "8",
    "ENGINE_TRAINING_LR": "5e-3",
    "ENGINE_TRAINING_CHECKPOINT_EVERY": "10",
}


@pytest.fixture(scope="module")
def bot_env(engine_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    admin = tmp_path_factory.mktemp("admin")
    styles = admin / "styles.yaml"
    styles.write_text((KIT.parent / "tiny-shapes-styles.yaml").read_text() + ADMIN_TAGS)
    return fast_env(
        engine_cache,
        ENGINE_MODEL="tiny-shapes",
        ENGINE_STYLES_FILE=str(styles),
        ENGINE_LORA_DIR=str(admin / "loras"),
        ENGINE_QUALITY_STEPS="8",
        ADMIN_USER_IDS=",".join(map(str, ADMINS)),
        ALLOWED_USER_IDS=",".join(map(str, USERS)),
        OMP_NUM_THREADS="1",  # the training and the drawings share a CPU or two with other tests
        **TRAINING,
    )


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


# ---- a brand style trained from the chat (/train_style) ------------------------------------------------------------
def green_shapes(count: int) -> list[tuple[bytes, str]]:
    """The brand's pictures: every shape green, each captioned with the colour a user might ask for (so the style
    learns to draw green whatever colour is typed)."""
    rng, asked = random.Random(5), ("red", "blue", "yellow", "white")
    pictures = []
    for i in range(count):
        shape, background = SHAPES[i % 3], ("white", "black")[i % 2]
        buffer = io.BytesIO()
        draw("green", shape, background, rng).save(buffer, format="PNG")
        pictures.append((buffer.getvalue(), f"a {asked[i % 4]} {shape} on a {background} background"))
    return pictures


def green_share(album) -> float:
    return sum(float((labels(picture(data)) == NAMES.index("green")).mean()) for data in album.photos) / len(
        album.photos
    )


async def draw_in(user: FakeUser, prompt: str, style: str):
    """The album of `prompt` drawn in the style named `style` (paging through the style keyboard to it)."""
    await user.send_text(prompt)
    screen = await user.next_message(lambda m: "◀" in m.labels)  # the style screen, not the last results' buttons
    labels_now = screen.labels
    while not any(style in label for label in labels_now) and "▶" in labels_now:
        await user.press(screen, "▶")
        await user.next_edit()
        labels_now = user.buttons(screen)
    await user.press(screen, style)
    return await user.next_message(lambda m: m.method == "sendMediaGroup", timeout=120)


def training_log(logs: str, name: str) -> str:
    found = re.search(rf"training of style '{name}' done: .*", logs)
    return found.group(0) if found else ""


async def test_an_admin_trains_a_style_in_russian_from_an_album_and_everyone_draws_in_it(tg: FakeTelegram, bot):
    admin, user, other_admin = FakeUser(tg, 1210, language_code="ru"), FakeUser(tg, 1211), FakeUser(tg, 1214)
    await admin.send_command("/train_style brand-green")
    counter = await admin.next_message(lambda m: "brand-green" in (m.text or ""))
    assert "Новый стиль" in counter.text and counter.labels == ["🎓 Обучить", "✖ Отменить"]
    for data, caption in green_shapes(6):  # an album, a caption under each picture
        await admin.send_photo(data, caption, media_group_id="brand-album")
    await admin.next_edit(lambda m: m.message_id == counter.message_id and "пока 6 картинок" in (m.text or ""))

    await admin.press(counter, "Обучить")
    progress = await admin.next_edit(lambda m: m.message_id == counter.message_id and "%" in (m.text or ""))
    assert "Обучаю стиль brand-green на 6 картинках" in progress.text and progress.labels == ["✖ Отменить"]
    await other_admin.send_command("/train_style another-one")  # one training at a time
    busy = await other_admin.next_message()
    assert "Another style is being trained right now" in busy.text

    plain = await draw_in(user, "a red circle --seed 40", "No style")  # users' pictures go first
    assert "готов" not in (tg.message(admin.chat_id, counter.message_id) or {}).get("text", "")
    done = await admin.next_edit(lambda m: m.message_id == counter.message_id and "✅" in (m.text or ""), timeout=150)
    assert "Стиль brand-green готов" in done.text and "60 шагов обучения" in done.text
    print(training_log(bot.logs(), "brand-green"))

    styled = await draw_in(user, "a red circle --seed 40", "brand-green")  # everyone sees it, no restart
    print(f"green share: {green_share(plain):.3f} in no style, {green_share(styled):.3f} in brand-green")
    assert green_share(styled) > green_share(plain) + 0.1


async def five_pictures_trained(admin: FakeUser, name: str):
    """/train_style `name`, five green pictures, 🎓 Train: the counting message (the training's status now)."""
    await admin.send_command(f"/train_style {name}")
    counter = await admin.next_message(lambda m: m.buttons != [])
    for data, caption in green_shapes(5):
        await admin.send_photo(data, caption)
    await admin.next_edit(lambda m: "5 pictures so far" in (m.text or ""))
    await admin.press(counter, "Train")
    return counter


async def test_bad_training_input_is_explained_and_a_training_can_be_cancelled(tg: FakeTelegram, bot):
    stranger, admin = FakeUser(tg, 1212), FakeUser(tg, 1214)
    await stranger.send_command("/train_style mine")
    assert (await stranger.next_message()).text == "Only administrators can train styles."
    for command, answer in (
        ("/train_style", "Send /train_style name"),
        ("/train_style Big Name", "can't be a style name"),
        ("/train_style night", "A style named night exists already"),
    ):
        await admin.send_command(command)
        assert answer in (await admin.next_message()).text, command

    await admin.send_command("/train_style few-pictures")
    counter = await admin.next_message(lambda m: m.buttons != [])
    for data, caption in green_shapes(2):
        await admin.send_photo(data, caption)
    await admin.next_edit(lambda m: "2 pictures so far" in (m.text or ""))
    await admin.send_document(b"not a picture", "brand.png", "image/png")
    assert "can't read this picture" in (await admin.next_message()).text
    pressed = await admin.press(counter, "Train")
    await tg.wait_for("answerCallbackQuery", lambda c: c.params["callback_query_id"] == pressed)
    assert (admin.answer_of(pressed) or {}).get("text") == "Send at least 5 pictures first — 2 so far."
    await admin.press(counter, "Cancel")
    assert "is not trained" in (await admin.next_edit(lambda m: m.message_id == counter.message_id)).text

    counter = await five_pictures_trained(admin, "cancelled-one")
    await admin.next_edit(lambda m: m.message_id == counter.message_id and "Cancel" in m.labels[0])
    await admin.press(counter, "Cancel")
    ended = await admin.next_edit(lambda m: m.message_id == counter.message_id and "✖" in (m.text or ""), timeout=60)
    assert ended.text == "✖ Training of the style cancelled-one cancelled; nothing was added."


async def test_a_restart_during_a_training_offers_to_resume_it_and_the_style_is_then_drawn_in(
    tg: FakeTelegram, bot, bot_env
):
    admin, user = FakeUser(tg, 1214), FakeUser(tg, 1225)
    counter = await five_pictures_trained(admin, "brand-restart")
    await admin.next_edit(lambda m: m.message_id == counter.message_id and "%" in (m.text or ""), timeout=60)

    code, seconds = await bot.terminate(timeout=60)  # SIGTERM in the middle of the training
    print(f"the bot stopped in {seconds:.1f} s during a training")
    assert code == 0 and seconds < 15
    paused = (tg.message(admin.chat_id, counter.message_id) or {}).get("text", "")
    assert "⏸ Training of the style brand-restart stopped at" in paused and "for a restart" in paused
    kept = Path(bot_env["ENGINE_LORA_DIR"]) / ".training"
    assert [len(list(folder.glob("*.png"))) for folder in kept.glob("chat-*")] == [5]  # the pictures wait

    await bot.start()
    await bot.wait_ready(timeout=180)
    offer = await admin.next_message(lambda m: "interrupted by a restart" in (m.text or ""), timeout=60)
    assert offer.labels == ["▶ Resume", "✖ Forget it"]
    assert "Its 5 pictures are kept, and the training was saved at step" in offer.text
    stale = (tg.message(admin.chat_id, counter.message_id) or {}).get("text", "")
    assert stale == "⏸ Training of the style brand-restart was interrupted by a restart."

    await admin.press(offer, "Resume")  # the offer becomes the training's status
    done = await admin.next_edit(lambda m: m.message_id == offer.message_id and "✅" in (m.text or ""), timeout=150)
    assert "The style brand-restart is ready" in done.text and "60 training steps" in done.text
    assert not list(kept.glob("chat-*"))
    assert re.search(r"training of style 'brand-restart' resumed at step [1-9]\d* of 60", bot.logs())
    styled = await draw_in(user, "a red circle --seed 40", "brand-restart")
    assert len(styled.photos) == 4


# ---- /describe: prompts that describe a photo ----------------------------------------------------------------------
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
    return await user.next_message(lambda m: m.buttons != [] and "💬" in (m.text or ""), timeout=60)


async def test_a_described_photo_offers_prompts_and_a_tap_draws_one(tg: FakeTelegram, bot):
    user = FakeUser(tg, 1221)
    photo = await user.send_photo(photo_of("red", "circle", "white"))
    choices = await user.next_message(lambda m: m.buttons != [])
    menus = {language: [c["command"] for c in commands] for (_, language), commands in tg.commands.items()}
    assert "describe" in menus["en"] and "describe" in menus["ru"]  # a captioning model: /describe in the menu
    await user.press(choices, "💬 Describe")
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
    user = FakeUser(tg, 1222, language_code="ru")
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
    for user_id, language, how in ((1223, "en", "Send a photo with /describe"), (1224, "ru", "Пришлите фото")):
        user = FakeUser(tg, user_id, language_code=language)
        await user.send_command("/help")
        assert "/describe — " in (await user.next_message()).text  # a captioning model: /help names it
        await user.send_command("/describe")
        assert how in (await user.next_message()).text
        text = await user.send_text("a green circle")
        await user.next_message(lambda m: m.buttons != [])  # its style screen
        await user.send_command("/describe", reply_to=text)  # a reply to a text, not a photo
        assert how in (await user.next_message()).text
