"""A daily user: prompts drawn at once in their style, Midjourney-style options after a prompt, the original PNG,
how a picture was made and its seed again, ⭐ favourites, /history and /favorites; in English and Russian.
Storage is Redis (pictures on disk), so the PNG sent can be checked byte for byte against the one stored."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from e2e.helpers import TRANSLATOR, decoded, results, shown
from fakegram import BotMessage, FakeTelegram, FakeUser
from fakegram.process import DEFAULTS
from PIL import Image

from bot.pictures import PictureFolder
from engine.images import read_parameters

pytestmark = pytest.mark.asyncio(loop_scope="module")
BOT_REDIS = True


def job_of(buttons: BotMessage) -> str:
    return buttons.buttons[0][0][1].split(":")[1]


def seeds_of(caption: str) -> list[int]:
    return [int(seed) for seed in re.findall(r"\d{3,}", caption.splitlines()[-1])]


async def stored_picture(redis, job: str, picture: int) -> bytes:
    from redis.asyncio import Redis

    client = Redis.from_url(redis.url)
    try:
        digest = await client.get(f"easel:blob:{job}:pic{picture}")
        ttl = await client.ttl(f"easel:job:{job}")
    finally:
        await client.aclose()
    assert digest is not None and ttl > 0
    data = PictureFolder(Path(DEFAULTS["PICTURE_DIR"])).read(digest.decode())
    assert data is not None
    return data


async def job_ttl(redis, job: str) -> int:
    from redis.asyncio import Redis

    client = Redis.from_url(redis.url)
    try:
        return int(await client.ttl(f"easel:job:{job}"))
    finally:
        await client.aclose()


async def choose_default_style(user: FakeUser, style: str) -> BotMessage:
    await user.send_command("/settings")
    settings = await user.next_message()
    await user.press(settings, "🎨")
    await user.next_edit()
    await user.press(settings, style)
    await user.next_edit()
    return settings


async def test_with_a_default_style_a_prompt_is_drawn_at_once_and_options_shape_it(tg: FakeTelegram, bot):
    user = FakeUser(tg, 1501)
    settings = await choose_default_style(user, "Watercolor")
    assert "drawn at once in Watercolor" in (tg.message(user.chat_id, settings.message_id) or {})["text"]

    prompt = await user.send_text("a fox in the rain —ar 16:9 --no text, people --seed 4242 --n 2")
    status = await user.next_message()
    assert status.method == "sendMessage" and status.labels == ["✖ Cancel"], "no style screen: drawing already"
    assert status.message["reply_to_message"]["message_id"] == prompt["message_id"]
    album, buttons = await results(user)
    assert len(album.photos) == 2 and "Watercolor" in album.text and "a fox in the rain" in album.text
    assert "--" not in album.text.splitlines()[0], "the options are not drawn as part of the prompt"
    assert "⚙️ --ar 16:9 --seed 4242 --no text, people --n 2" in album.text
    assert seeds_of(album.text) == [4242, 4243]
    width, height = decoded(album.photos[0]).size
    assert width > height
    assert "⬇ PNG" in buttons.labels and "ℹ" in buttons.labels and "☆ Favourite" in buttons.labels

    await user.press(settings, "Ask for a style each time")
    asked = await user.next_edit()
    assert "✓" not in asked.text and "asks for a style first" in asked.text
    await user.send_text("a pear on a plate")
    screen = await user.next_message()
    assert "Pick a style" in screen.text and "✓ Watercolor" in screen.labels


async def test_a_new_user_sees_the_styles_unless_a_style_is_typed(tg: FakeTelegram, bot):
    user = FakeUser(tg, 1502, language_code="ru")
    await user.send_text("маяк ночью")
    screen = await user.next_message()
    assert screen.text == shown("ru", "draft-generate", prompt="маяк ночью")
    await user.send_text("маяк ночью --style комикс --n 1 --fast")
    status = await user.next_message()
    assert status.labels == ["✖ Отменить"]
    album, buttons = await results(user)
    assert album.method == "sendPhoto" and "Комикс" in album.text and "--fast" in album.text
    assert "⬇ PNG" in buttons.labels and "☆ В избранное" in buttons.labels


@pytest.mark.parametrize("locale", ["en", "ru"])
@pytest.mark.parametrize(
    ("typed", "key", "values"),
    [
        ("a kite --ar 7:5", "params-aspect", {"value": "7:5"}),
        ("a kite --seed lucky", "params-seed", {"value": "lucky", "most": 2**32 - 1}),
        ("a kite --n 12", "params-count", {"value": "12", "most": 4}),
        ("a kite --v 6", "params-unknown", {"name": "v"}),
        ("a kite --style baroque", "params-style", {"value": "baroque"}),
    ],
)
async def test_a_bad_option_is_named_in_the_users_language(tg: FakeTelegram, bot, locale, typed, key, values):
    user = FakeUser(tg, 1510 if locale == "en" else 1511, language_code=locale)
    user.mark()
    await user.send_text(typed)
    told = await user.next_message()
    choices = ", ".join(("1:1", "3:4", "4:3", "9:16", "16:9", "2:3", "3:2"))
    expected = shown(locale, key, **{"name": "", "value": "", "choices": choices, "most": 0, **values})
    assert told.text == expected and not told.buttons
    assert not [m for m in user.sent_to_me() if m.method in ("sendMediaGroup", "sendPhoto")]


async def test_the_png_button_sends_the_stored_original_byte_for_byte(tg: FakeTelegram, bot, redis):
    user = FakeUser(tg, 1503)
    await choose_default_style(user, "No style")
    await user.send_text("a paper lantern")
    album, buttons = await results(user)
    await user.press(buttons, "⬇ PNG")
    picker = await user.next_edit()
    assert picker.labels[:4] == ["1", "2", "3", "4"]
    pressed = user.mark()
    await user.press(buttons, "2")
    document = await user.next_document()
    stored = await stored_picture(redis, job_of(buttons), 2)
    assert document.document == stored, "the stored PNG itself, not a re-encoding"
    assert document.document_name == f"easel-{seeds_of(album.text)[1]}.png"
    assert Image.open(io.BytesIO(document.document)).format == "PNG"
    assert read_parameters(document.document)["seed"] == seeds_of(album.text)[1]
    since = [m for m in user.sent_to_me() if m.call.index >= pressed]
    assert [m.method for m in since] == ["sendDocument"], "no new picture was drawn for it"
    assert "⬇ PNG" in user.buttons(buttons), "the main buttons are back"


async def test_info_tells_how_a_picture_was_made_and_reuses_its_seed(tg: FakeTelegram, bot):
    user = FakeUser(tg, 1504, language_code="ru")
    await user.send_text("снежная сова --no размытие --seed 777 --n 1 --style аниме")
    _, buttons = await results(user)
    await user.press(buttons, "ℹ")
    info = await user.next_edit()
    texts = TRANSLATOR["ru"]
    assert "Картинка 1" in info.text and "Запрос: снежная сова" in info.text
    assert "размытие" in info.text and "Сид: 777" in info.text and "Стиль: Аниме" in info.text
    assert info.labels == ["♻ Тот же сид", "« Назад"]
    await user.press(buttons, "Тот же сид")
    question = await user.next_message()
    assert question.text == shown("ru", "ask-seed-prompt", seed=777)
    await user.send_text("снежная лиса", reply_to=question.message)
    screen = await user.next_message(lambda m: m.buttons != [])
    assert "снежная лиса" in screen.text and "✓ Аниме" in screen.labels
    await user.press(screen, "Аниме")
    again, _ = await results(user)
    assert seeds_of(again.text)[0] == 777 and "снежная лиса" in again.text
    assert texts.plain("btn-info") in user.buttons(buttons)


async def test_favourites_and_history_bring_results_back_with_their_buttons(tg: FakeTelegram, bot, redis):
    user = FakeUser(tg, 1505)
    await choose_default_style(user, "No style")
    prompts = [f"a tiny boat number {n} --n 1" for n in range(7)]
    jobs = []
    for prompt in prompts:
        await user.send_text(prompt)
        _, buttons = await results(user)
        jobs.append(job_of(buttons))
    query = await user.press(buttons, "☆ Favourite")
    await user.next_edit()
    assert "⭐ Favourite" in user.buttons(buttons)
    assert (await tg.wait_for("answerCallbackQuery", lambda c: c.params["callback_query_id"] == query)).ok
    assert "Added to /favorites" in user.answer_of(query)["text"]
    assert await job_ttl(redis, jobs[-1]) > 300 * 24 * 3600, "a favourite outlives the week"
    assert await job_ttl(redis, jobs[0]) <= 7 * 24 * 3600

    await user.send_command("/history")
    page = await user.next_photo()
    assert "Your recent pictures" in page.text and "1/2" in page.text
    assert "1. ⭐ a tiny boat number 6" in page.text and "6. a tiny boat number 1" in page.text
    assert page.labels == ["1", "2", "3", "4", "5", "6", "◀", "1/2", "▶"]
    assert decoded(page.photos[0]).size[0] > 3 * 256
    await user.press(page, "▶")
    second = await user.next_edit()
    assert "2/2" in second.text and "1. a tiny boat number 0" in second.text and second.labels[0] == "1"
    await user.press(page, "1")
    album, back = await results(user)
    assert "a tiny boat number 0" in album.text and "⬇ PNG" in back.labels

    await user.send_command("/favorites")
    starred = await user.next_photo()
    assert (
        "Your favourites" in starred.text and "a tiny boat number 6" in starred.text and "number 5" not in starred.text
    )
    stranger = FakeUser(tg, 1506)
    stranger.chat = user.chat
    query = await stranger.press(starred, "1")
    await tg.wait_for("answerCallbackQuery", lambda c: c.params["callback_query_id"] == query)
    assert "someone else" in stranger.answer_of(query)["text"]


async def test_empty_history_and_favourites_say_what_to_do_in_both_languages(tg: FakeTelegram, bot):
    for user_id, locale in ((1507, "en"), (1508, "ru")):
        user = FakeUser(tg, user_id, language_code=locale)
        await user.send_command("/history")
        assert (await user.next_message()).text == shown(locale, "history-empty")
        await user.send_command("/favorites")
        assert (await user.next_message()).text == shown(locale, "favorites-empty")


async def test_a_429_on_any_screen_is_waited_out_not_an_apology(tg: FakeTelegram, bot):
    user = FakeUser(tg, 1509)
    tg.fail_next("sendMessage", 429, retry_after=1, when=lambda p: str(p.get("chat_id")) == "1509")
    await user.send_command("/help")
    told = await user.next_message()
    assert "How it works" in told.text
    tries = tg.calls_of("sendMessage", user.chat_id)
    assert [c.status for c in tries] == [429, 200], "refused once, then sent once"
    assert tries[1].time - tries[0].time >= 1.0, "after the retry_after Telegram asked for"
