"""✏️ Edit and 🖌 Region: a user likes a picture but wants it changed.

✏️ Edit in chat: they say what should change in a sentence (Russian or English) and get the edited pictures with
the usual buttons; an edit can be edited again; a photo of their own too.

🖌 Region, the Mini App: a user opens a picture full screen from the chat, paints over what should change with a
finger or the mouse, says what goes there (or nothing, to remove it) and sends; the real bot process delivers the
repainted pictures in the chat. Driven in a real browser (Debian's chromium through Playwright), on a phone-sized
screen, in both languages, with screenshots under tests/artifacts/. And everything the server must refuse.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from urllib.parse import parse_qs, urlparse

import aiohttp
import numpy as np
import pytest
from e2e.helpers import draw, needs, results, shown
from e2e.webapp_kit import (
    ARTIFACTS,
    CHROMIUM,
    DARK_THEME,
    PHONE,
    TELEGRAM_JS,
    browser_available,
    init_data,
    stub_script,
    telegram_url,
)
from fakegram import FakeTelegram, FakeUser
from PIL import Image, ImageDraw
from redisproc import free_port

pytestmark = [pytest.mark.asyncio(loop_scope="module"), needs("edit", "inpaint")]
PORT = free_port()
BASE = f"http://127.0.0.1:{PORT}"
BOT_ENV = {"PUBLIC_URL": BASE, "HTTP_PORT": str(PORT), "HTTP_HOST": "127.0.0.1"}


def web_app_urls(message) -> list[str]:
    rows = (message.message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [button["web_app"]["url"] for row in rows for button in row if "web_app" in button]


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


async def photo_link(user: FakeUser, sample: bytes, locale: str = "en") -> str:
    """The user sends a photo; the 🖌 button among its choices opens the Mini App on it."""
    await user.send_photo(sample)
    choices = await user.next_message()
    assert shown(locale, "btn-photo-region") in choices.labels
    (url,) = web_app_urls(choices)
    return url


# ---- ✏️ Edit in chat ----------------------------------------------------------------------------------
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


# ---- the buttons ----------------------------------------------------------------------------------------
async def test_region_buttons_open_the_mini_app_on_the_picked_picture(tg: FakeTelegram, bot):
    user = FakeUser(tg, 1451)
    _, under = await draw(user, "a lighthouse at dawn")
    assert shown("en", "btn-region") in under.labels and not web_app_urls(under), "4 pictures: pick one first"
    await user.press(under, shown("en", "btn-region"))
    menu = await user.next_edit(lambda m: m.message_id == under.message_id)
    assert menu.text == shown("en", "results-pick-region")
    urls = web_app_urls(menu)
    assert len(urls) == 4
    link = urlparse(urls[2])
    assert f"{link.scheme}://{link.netloc}" == BASE and link.path == "/app/region"
    assert parse_qs(link.query)["pic"] == ["3"]


async def test_no_region_button_in_a_group(tg: FakeTelegram, bot):
    """Telegram refuses web_app buttons outside private chats: the button is not offered there."""
    group = tg.group(-1001451, "Painters")
    user = FakeUser(tg, 1452, chat=group)
    _, under = await draw(user, "a lighthouse", mention=True)
    assert shown("en", "btn-region") not in under.labels
    assert shown("en", "btn-edit") in under.labels


# ---- in the browser --------------------------------------------------------------------------------------
async def open_page(browser, url: str, locale: str, *, telegram: bool):
    """A phone-sized page opened as Telegram opens it; `telegram`: its script is there (our stand-in), else
    unreachable (as offline), and the page must do without."""
    context = await browser.new_context(viewport=PHONE, device_scale_factor=2, has_touch=True, locale=locale)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    if telegram:
        await page.route(TELEGRAM_JS, lambda route: route.fulfill(body=stub_script(), content_type="text/javascript"))
    else:
        await page.route(TELEGRAM_JS, lambda route: route.abort())
    await page.goto(url)
    await page.wait_for_selector("#app[data-ready=true]", timeout=30_000)
    return context, page, errors


async def stroke(page, points: list[tuple[float, float]]) -> None:
    """A finger-like stroke with the mouse, in fractions of the picture's box."""
    box = await page.locator("#paint").bounding_box()
    x, y = box["x"], box["y"]
    await page.mouse.move(x + points[0][0] * box["width"], y + points[0][1] * box["height"])
    await page.mouse.down()
    for fx, fy in points[1:]:
        await page.mouse.move(x + fx * box["width"], y + fy * box["height"], steps=8)
    await page.mouse.up()


@browser_available()
async def test_paint_a_region_in_telegram_and_get_it_repainted_in_the_chat(tg: FakeTelegram, bot, sample_bytes):
    from playwright.async_api import async_playwright

    user = FakeUser(tg, 1453)
    url = await photo_link(user, sample_bytes("chelsea.png"))
    signed = init_data(tg.token, {"id": user.id, "first_name": "Alice", "language_code": "en"})
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context, page, errors = await open_page(browser, telegram_url(url, signed, DARK_THEME), "en", telegram=True)
        telegram = await page.evaluate("window.__telegram")
        assert telegram["ready"] and telegram["expanded"] and telegram["backShown"]
        assert telegram["swipesOff"], "a downward stroke paints instead of closing the Mini App"
        assert await page.evaluate("Telegram.WebApp.MainButton.text") == "Repaint"
        assert await page.locator("#send").is_hidden(), "inside Telegram its main button sends"
        assert await page.locator("#hint").inner_text() == "Paint over what should change"
        background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(23, 33, 43)", "Telegram's theme colours"
        await page.evaluate("Telegram.WebApp.MainButton.press()")
        assert await page.locator("#status").inner_text() == "Paint over the area to change first."
        await stroke(page, [(0.40, 0.30), (0.55, 0.35), (0.60, 0.55), (0.45, 0.60)])
        await stroke(page, [(0.9, 0.9), (0.95, 0.95)])
        await page.click("#undo")  # the second stroke was a slip
        await page.fill("#prompt", "a red knitted hat")
        await page.screenshot(path=str(ARTIFACTS / "region-en.png"))
        await page.evaluate("Telegram.WebApp.MainButton.press()")
        await page.wait_for_function("window.__telegram.closed", timeout=30_000)
        assert await page.locator("#status").inner_text() == "Done! The pictures will arrive in the chat."
        source = await (
            await page.request.get(
                url.replace("/app/region", "/app/api/picture"), headers={"Authorization": f"tma {signed}"}
            )
        ).body()
        assert not errors, errors
        await context.close()
        await browser.close()
    album, under = await results(user)
    assert "🖌 Region repainted" in album.text and "✏️ a red knitted hat" in album.text
    assert len(album.photos) == 4
    first = pixels(album.photos[0])
    original = pixels(source)
    assert first.shape == original.shape, "the picture keeps its size"
    height, width = original.shape[:2]
    kept = (slice(0, int(0.15 * height)), slice(0, width))  # far from the stroke (and the undone one)
    assert np.abs(first[kept] - original[kept]).mean() < 4, "outside the region, the photo as it was"
    painted = (slice(int(0.35 * height), int(0.5 * height)), slice(int(0.45 * width), int(0.55 * width)))
    assert np.abs(first[painted] - original[painted]).mean() > 8, "the region is repainted"
    corner = (slice(int(0.92 * height), height), slice(int(0.92 * width), width))
    assert np.abs(first[corner] - original[corner]).mean() < 4, "an undone stroke repaints nothing"
    assert shown("en", "btn-edit") in under.labels, "the usual buttons under the result"


@browser_available()
async def test_paint_with_a_finger_in_russian_without_telegrams_script(tg: FakeTelegram, bot):
    from playwright.async_api import async_playwright

    user = FakeUser(tg, 1454, language_code="ru")
    _, under = await draw(user, "маяк на рассвете", style="Без стиля")
    await user.press(under, shown("ru", "btn-region"))
    menu = await user.next_edit(lambda m: m.message_id == under.message_id)
    url = web_app_urls(menu)[0]
    signed = init_data(tg.token, {"id": user.id, "first_name": "Алиса", "language_code": "ru"})
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context, page, errors = await open_page(browser, telegram_url(url, signed), "ru", telegram=False)
        assert await page.locator("#send").is_visible(), "outside Telegram a button of its own sends"
        assert await page.locator("#send").inner_text() == "Перерисовать"
        box = await page.locator("#paint").bounding_box()
        for n in range(12):  # taps of a finger along a line
            await page.touchscreen.tap(box["x"] + box["width"] * (0.3 + n * 0.03), box["y"] + box["height"] * 0.5)
        await page.click("#invert")
        await page.click("#invert")
        assert await page.locator("#invert").get_attribute("aria-pressed") == "false"
        await page.screenshot(path=str(ARTIFACTS / "region-ru.png"))
        await page.click("#send")  # the text left empty: remove what is there
        await page.wait_for_function("document.getElementById('send').hidden", timeout=30_000)
        assert await page.locator("#status").inner_text() == "Готово! Картинки придут в чат."
        assert not errors, errors
        await context.close()
        await browser.close()
    album, _ = await results(user)
    assert "🖌 Перерисована область" in album.text
    assert "маяк на рассвете" in album.text, "an empty text repaints from the picture's own prompt"


# ---- what the server refuses ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def owner() -> dict:
    return {"id": 1455, "first_name": "Alice", "language_code": "en"}


async def refusals_kit(tg: FakeTelegram, owner: dict):
    user = FakeUser(tg, owner["id"])
    _, under = await draw(user, "a small boat")
    await user.press(under, shown("en", "btn-region"))
    menu = await user.next_edit(lambda m: m.message_id == under.message_id)
    url = web_app_urls(menu)[0]
    query = urlparse(url).query
    return user, query


async def call(http, method: str, path: str, query: str, signed: str | None, **kwargs):
    """One API call with `signed` initData (None: no Authorization at all): (status, JSON or bytes)."""
    headers = {"Authorization": f"tma {signed}"} if signed is not None else {}
    async with http.request(method, f"{BASE}{path}?{query}", headers=headers, **kwargs) as response:
        body = await response.read()
        return response.status, (json.loads(body) if response.content_type == "application/json" else body)


def form(mask: bytes, prompt: str = "a flag") -> aiohttp.FormData:
    data = aiohttp.FormData()
    data.add_field("prompt", prompt)
    data.add_field("mask", mask, filename="mask.png", content_type="image/png")
    return data


async def test_the_server_refuses_what_it_must_and_runs_nothing(tg: FakeTelegram, bot, owner):
    user, query = await refusals_kit(tg, owner)
    good = init_data(tg.token, owner)
    async with aiohttp.ClientSession() as http:
        status, session = await call(http, "GET", "/app/api/session", query, good)
        assert status == 200 and session["texts"]["send"] == "Repaint"
        size = (session["width"], session["height"])
        painted = Image.new("L", size, 0)
        ImageDraw.Draw(painted).rectangle((10, 10, 40, 40), fill=255)
        before = len(user.sent_to_me())

        forged = init_data(tg.token, owner, forge=True)
        stale = init_data(tg.token, owner, auth_date=int(time.time()) - 2 * 3600)
        for data in (forged, stale, None, "", "hash=abc&user=%7B%7D"):
            for method, path in (("GET", "/app/api/session"), ("GET", "/app/api/picture")):
                assert (await call(http, method, path, query, data))[0] == 401, (data, path)
            status, body = await call(http, "POST", "/app/api/region", query, data, data=form(png(painted)))
            assert status == 401 and body["error"] == "unauthorized"
            assert "not yours, or it is too old" in body["message"]

        stranger = init_data(tg.token, {"id": 1456, "first_name": "Eve", "language_code": "ru"})
        status, body = await call(http, "POST", "/app/api/region", query, stranger, data=form(png(painted)))
        assert status == 403 and body["message"] == shown("ru", "webapp-denied"), "in the stranger's language"
        assert (await call(http, "GET", "/app/api/picture", query, stranger))[0] == 403
        gone = query.replace("job=", "job=x")
        assert (await call(http, "GET", "/app/api/session", gone, good))[0] == 404, "links expire with the record"
        assert (await call(http, "GET", "/app/api/session", query.replace("pic=1", "pic=7"), good))[0] == 404

        region = "/app/api/region"
        status, body = await call(http, "POST", region, query, good, data=form(png(painted.resize((64, 64)))))
        assert (status, body["error"]) == (400, "bad_mask"), "a mask of another size"
        status, body = await call(http, "POST", region, query, good, data=form(png(Image.new("L", size, 0))))
        assert (status, body["error"]) == (400, "empty_mask")
        assert body["message"] == shown("en", "error-empty_mask")
        status, body = await call(http, "POST", region, query, good, data=form(b"%PDF-1.4 not a picture"))
        assert (status, body["error"]) == (400, "bad_mask"), "not an image"
        status, body = await call(http, "POST", region, query, good, data=form(png(painted), prompt="x" * 5000))
        assert (status, body["error"]) == (400, "too_long")
        status, _ = await call(http, "POST", region, query, good, data=form(b"\0" * (30 * 1024 * 1024)))
        assert status == 413, "a 30 MB POST"
        async with http.get(f"{BASE}/app/static/..%2Fconfig.py") as response:
            assert response.status == 404
        await asyncio.sleep(1)  # anything started would have said so in the chat by now
        assert len(user.sent_to_me()) == before, "nothing ran for any refused call"

        status, body = await call(http, "POST", region, query, good, data=form(png(painted)))
        assert status == 202 and body["ok"]
    album, _ = await results(user)
    assert "✏️ a flag" in album.text
