"""/settings and /styles: a user's choices shape every request, and the language switches every text."""

from __future__ import annotations

import pytest
from e2e.helpers import decoded, results, sizes
from fakegram import FakeTelegram, FakeUser

pytestmark = pytest.mark.asyncio(loop_scope="module")
BOT_ENV = {"DEFAULT_LOCALE": "ru"}


async def test_switching_language_switches_every_text(tg: FakeTelegram, bot):
    user = FakeUser(tg, 301, first_name="Ivan", language_code="en")
    await user.send_command("/settings")
    settings = await user.next_message()
    assert "Settings" in settings.text and "✓ English" in settings.labels

    await user.press(settings, "Русский")
    switched = await user.next_edit()
    assert "Настройки" in switched.text and "Язык: Русский" in switched.text
    assert "✓ Русский" in switched.labels and any("Улучшать запросы" in label for label in switched.labels)
    menu = await tg.wait_for("setMyCommands", lambda c: (c.params.get("scope") or {}).get("chat_id") == 301)
    assert menu.params["commands"][0]["description"] == "Начало и примеры"

    await user.send_command("/start")
    assert "Привет, Ivan" in (await user.next_message()).text
    await user.send_command("/help")
    assert "Как это работает" in (await user.next_message()).text
    await user.send_text("маяк в шторм")
    screen = await user.next_message()
    assert "Выберите стиль" in screen.text
    assert "Аниме" in screen.labels and "✖ Закрыть" in screen.labels and "✨ Улучшить запрос: нет" in screen.labels
    await user.press(screen, "Аниме")
    status = await user.next_edit()
    assert any(word in status.text for word in ("очереди", "Начинаю", "Рисую")) and status.labels == ["✖ Отменить"]
    album, buttons = await results(user)
    assert "маяк в шторм" in album.text and "Аниме" in album.text
    assert "Что дальше?" in buttons.text and "🎨 Стиль" in buttons.labels

    await user.send_command("/settings")
    settings = await user.next_message()
    await user.press(settings, "English")
    back = await user.next_edit()
    assert "Settings" in back.text and "Language: English" in back.text
    await user.send_command("/start")
    assert "Hi, Ivan" in (await user.next_message()).text


async def test_telegram_language_decides_until_the_user_chooses(tg: FakeTelegram, bot):
    russian, english, german = (
        FakeUser(tg, 302, language_code="ru"),
        FakeUser(tg, 303, language_code="en-GB"),
        FakeUser(tg, 304, language_code="de"),
    )
    for user in (russian, english, german):
        await user.send_command("/start")
    assert "Привет" in (await russian.next_message()).text
    assert "Hi" in (await english.next_message()).text
    assert "Привет" in (await german.next_message()).text  # DEFAULT_LOCALE=ru here


async def test_default_style_aspect_count_and_improve_apply_to_new_requests(tg: FakeTelegram, bot):
    user = FakeUser(tg, 305)
    await user.send_command("/settings")
    settings = await user.next_message()
    for label in ("🖼 2", "9:16", "Improve prompts"):
        await user.press(settings, label)
        await user.next_edit()
    await user.press(settings, "🎨 Style")
    styles = await user.next_edit()
    assert "Pick" in styles.text or "Styles" in styles.text
    await user.press(settings, "Watercolor")
    chosen = await user.next_edit()
    assert "Default style: Watercolor" in chosen.text
    assert "Pictures per request: 2" in chosen.text and "Aspect ratio: 9:16" in chosen.text
    assert "Improve prompts: on" in chosen.text

    await user.send_text("a fox in the rain")  # a default style chosen: drawn at once, no style screen
    album, _ = await results(user)
    assert len(album.photos) == 2 and "Watercolor" in album.text
    width, height = decoded(album.photos[0]).size
    assert height > width

    await user.send_command("/settings")
    settings = await user.next_message()
    await user.press(settings, "🖼 1")
    await user.next_edit()
    await user.press(settings, "Ask for a style each time")
    await user.next_edit()
    await user.send_text("a single pear")
    screen = await user.next_message()
    assert "✓ Watercolor" in screen.labels and "✓ 9:16" in screen.labels
    assert "✨ Improve prompt: on" in screen.labels
    await user.press(screen, "No style")
    single, buttons = await results(user)
    assert single.method == "sendPhoto" and len(sizes(single)) == 1
    assert "V1" in buttons.labels or "🔄" in buttons.labels


async def test_styles_command_lists_styles_and_sets_the_default(tg: FakeTelegram, bot):
    user = FakeUser(tg, 306)
    await user.send_command("/styles")
    styles = await user.next_message()
    assert "Styles" in styles.text and "✓ No style" in styles.labels and "1/2" in styles.labels
    await user.press(styles, "▶")
    page = await user.next_edit()
    assert "Comic book" in page.labels
    await user.press(styles, "Comic book")
    settings = await user.next_edit()
    assert "Default style: Comic book" in settings.text
