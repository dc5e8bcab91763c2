"""The same bot on MAX: the real bot process (MESSENGER=max, tiny models) long-polling a fake MAX Bot API.

A MAX user writes, presses buttons and sends photos as MAX carries them (several images in one message, a dialog
whose chat id is not the user's id); the bot answers through the MAX adapter (bot/max/). One bot for the module,
on Redis: tests/e2e/faulty_bot.py, so that "[hold=600]" keeps a request running until it is cancelled and
"[step=S]" with "[steps=N]" makes a drawing long enough to show its live preview.
"""

from __future__ import annotations

import io
import re
import socket
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from e2e.helpers import FAULTY_BOT, TRANSLATOR, engine_modes, fast_env, needs, shown
from fakemax import FakeMax, MaxUser, Sent
from fakemax.process import MaxBotProcess
from PIL import Image

pytestmark = pytest.mark.asyncio(loop_scope="module")
ALLOWED = (1101, 1102, 1103, 1104, 1105, 1106, 1107, 1108, 1109, 1110, 1111, 1112, 1113)
ADMIN = 1100


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fake() -> AsyncIterator[FakeMax]:
    async with FakeMax() as fake:
        yield fake
    assert not fake.server_errors, "bug in fakemax:\n" + "\n".join(fake.server_errors)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def max_bot(
    fake: FakeMax, engine_cache, redis, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[MaxBotProcess]:
    env = fast_env(
        engine_cache,
        REDIS_URL=redis.url,  # the MAX ids, the marker and the texts of messages with buttons in Redis
        MAX_ALLOWED_USER_IDS=",".join(map(str, ALLOWED)),
        MAX_ADMIN_USER_IDS=str(ADMIN),
        ALLOWED_USER_IDS="999",  # Telegram's list: never the one that counts on MAX
        # Telegram-only features switched on: on MAX they must stay hidden (bot/capabilities.py)
        RICH_MESSAGES="true",
        EPHEMERAL_MESSAGES="true",
        PUBLIC_URL="https://easel.example",
        HTTP_PORT=str(free_port()),  # the Mini App's page needs the bot's HTTP server
    )
    log_path = tmp_path_factory.mktemp("maxbot") / "bot.log"
    proc = MaxBotProcess(fake, env, FAULTY_BOT, log_path)
    await proc.start()
    try:
        await proc.wait_ready()
        yield proc
        code, _ = await proc.terminate(timeout=60)
        assert code == 0, f"the bot exited with {code}"
        assert fake.token not in proc.logs(), "the MAX token leaked into the log"
    finally:
        await proc.close()
        print(f"---- {log_path} ----\n{proc.logs()[-20000:]}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def label(locale: str, key: str, **values: object) -> str:
    return TRANSLATOR[locale].plain(key, **values)


def decoded(user: MaxUser, attachment: dict) -> Image.Image:
    image = Image.open(io.BytesIO(user.download(attachment)))
    image.load()
    return image


async def draw(user: MaxUser, prompt: str, locale: str = "en") -> tuple[Sent, Sent]:
    await user.send_text(prompt)
    screen = await user.next_message(lambda m: bool(m.buttons))
    assert screen.text == shown(locale, "draft-generate", prompt=prompt)
    await user.press(screen, screen.labels[0])
    return await user.results()


async def start(user: MaxUser, prompt: str, until: str) -> Sent:
    """Write a prompt, tap "No style"; the status message once it shows `until`."""
    await user.send_text(prompt)
    screen = await user.next_message(lambda m: bool(m.buttons))
    await user.press(screen, "No style")
    return await user.next_edit(lambda m: m.mid == screen.mid and until in m.text)


def refused(fake: FakeMax) -> list[str]:
    """Calls MAX refused that no test asked it to refuse."""
    return [
        f"{c.route} {c.status} {c.response}"
        for c in fake.calls
        if c.status not in (200, None) and c.index not in fake.injected
    ]


async def test_text_to_pictures_with_buttons_then_a_variation_and_4k(fake: FakeMax, max_bot):
    user = MaxUser(fake, 1101)
    await user.start()
    greeting = await user.next_message()
    assert greeting.text.startswith(shown("en", "start-greeting", name="Alice").splitlines()[0])

    pictures, buttons = await draw(user, "a red fox in the snow")
    assert len(pictures.images) == 4 and "a red fox in the snow" in pictures.text
    assert all(decoded(user, image).size[0] >= 64 for image in pictures.images)
    assert label("en", "btn-vary", n=1) in buttons.labels
    assert label("en", "btn-region") not in buttons.labels, "no Mini App button on MAX"
    assert not [c for c in fake.of("POST /messages") if "access_token" in c.query], "the token goes in a header only"

    await user.press(buttons, label("en", "btn-vary", n=2))
    varied, _ = await user.results()
    assert len(varied.images) == 4

    if "upscale" not in engine_modes():
        return
    await user.press(buttons, label("en", "btn-upscale", n=1))
    preview = await user.next_message(lambda m: bool(m.images))
    assert preview.text.startswith("🔍 4K")
    document = await user.next_message(lambda m: bool(m.files))
    assert document.reply_to == preview.mid
    assert document.files[0]["filename"].endswith("-4k.png") or document.files[0]["filename"].endswith("-4k.jpg")
    assert max(decoded(user, document.files[0]).size) > max(decoded(user, preview.images[0]).size)


async def test_a_russian_user_gets_russian_and_photo_variations(fake: FakeMax, max_bot, sample_bytes):
    user = MaxUser(fake, 1102, name="Борис", locale="ru-RU")
    pictures, buttons = await draw(user, "маяк ночью", locale="ru")
    assert "маяк ночью" in pictures.text and label("ru", "btn-vary", n=1) in buttons.labels

    if not engine_modes() & {"reimagine", "vary"}:
        return
    photo = await user.send_photos(sample_bytes("rocket.jpg"))
    choices = await user.next_message()
    assert choices.text == shown("ru", "photo-choices") and choices.reply_to == photo["body"]["mid"]
    assert label("ru", "btn-photo-region") not in choices.labels
    await user.press(choices, label("ru", "btn-photo-vary"))
    varied, _ = await user.results()
    assert len(varied.images) == 4 and "Вариации" in varied.text


@needs("mix")
async def test_two_photos_in_one_message_mix_and_the_balance_changes(fake: FakeMax, max_bot, sample_bytes):
    user = MaxUser(fake, 1103)
    await user.send_photos(sample_bytes("chelsea.png"), sample_bytes("coffee.png"), caption="a cozy morning")
    choices = await user.next_message()
    assert choices.text == shown("en", "mix-choices-text", prompt="a cozy morning")
    assert choices.labels[:3] == ["30/70", "50/50", "70/30"]
    await user.press(choices, "50/50")
    mixed, buttons = await user.results()
    assert "Mix 50/50" in mixed.text and len(mixed.images) == 4
    assert "✓ 50/50" in buttons.labels
    await user.press(buttons, "70/30")
    again, _ = await user.results()
    assert "Mix 70/30" in again.text


async def test_place_in_line_then_cancel_with_the_button_and_with_the_command(fake: FakeMax, max_bot):
    user = MaxUser(fake, 1104)
    running = await start(user, "a slow sunrise [hold=600]", until="Drawing")
    waiting = await start(user, "a second sunrise", until="in line")
    assert waiting.text == shown("en", "status-waiting", position=1) and waiting.labels == ["✖ Cancel"]

    pressed = await user.press(waiting, "Cancel")
    await user.next_edit(lambda m: m.mid == waiting.mid and "Cancelled" in m.text)
    assert {"notification": label("en", "job-cancelling")} in user.answers_to(pressed)
    assert fake.messages[waiting.mid]["body"]["attachments"] == [], "no buttons under a cancelled request"

    await user.send_text("/cancel")
    assert (await user.next_message()).text == shown("en", "cancel-done", count=1)
    await user.next_edit(lambda m: m.mid == running.mid and "Cancelled" in m.text)
    assert not [m for m in user.sent_to_me() if m.images], "nothing was delivered"


async def test_a_stranger_is_refused_politely_in_their_language(fake: FakeMax, max_bot):
    for user_id, locale in ((1999, "en"), (1998, "ru")):
        stranger = MaxUser(fake, user_id, locale=locale)
        await stranger.send_text("a castle")
        refusal = await stranger.next_message()
        assert refusal.text == shown(locale, "access-denied") and refusal.buttons == []


async def test_a_429_and_an_attachment_not_ready_cost_neither_a_lost_nor_a_doubled_result(fake: FakeMax, max_bot):
    user = MaxUser(fake, 1105)
    await user.send_text("a lighthouse in a storm")
    screen = await user.next_message(lambda m: bool(m.buttons))
    await user.press(screen, "No style")
    await user.next_edit(lambda m: m.mid == screen.mid)
    flood = fake.fail_next("POST /messages", 429)  # the pictures' first try
    fake.not_ready_next(2)  # then the uploaded images are processed for a moment
    pictures, buttons = await user.results()
    assert flood.hits and fake.not_ready_left == 0
    assert len(pictures.images) == 4 and buttons.labels
    with_pictures = [m for m in user.sent_to_me() if m.images]
    assert len(with_pictures) == 1, "the pictures came exactly once"
    assert not refused(fake)


@needs("zoom")
async def test_screens_change_in_place_and_settings_and_admin_commands_answer(fake: FakeMax, max_bot):
    user = MaxUser(fake, 1106, name="Вера", locale="ru-RU")
    await user.send_text("сад камней")
    screen = await user.next_message(lambda m: bool(m.buttons))
    await user.press(screen, "16:9")  # the keyboard changes, the text stays (MAX edits the whole message)
    await user.next_edit(lambda m: m.mid == screen.mid)
    kept = fake.messages[screen.mid]["body"]
    assert kept["text"] == shown("ru", "draft-generate", prompt="сад камней")
    assert "✓ 16:9" in [b["text"] for a in kept["attachments"] for row in a["payload"]["buttons"] for b in row]

    await user.press(screen, screen.labels[0])
    _, buttons = await user.results()
    await user.press(buttons, label("ru", "btn-zoom"))  # a sub-menu in the same message, then back
    menu = await user.next_edit(lambda m: m.mid == buttons.mid)
    assert menu.text == shown("ru", "results-pick-zoom")
    await user.press(buttons, label("ru", "btn-back"))
    await user.next_edit(lambda m: m.mid == buttons.mid)
    main = Sent(menu.call, fake.messages[buttons.mid])
    assert main.labels == buttons.labels and main.text == buttons.text

    await user.send_text("/settings")
    settings = await user.next_message()
    assert settings.text.startswith("⚙️ Настройки") and settings.buttons

    admin = MaxUser(fake, ADMIN)
    await admin.send_text("/stats")
    assert (await admin.next_message()).text.startswith("📊 Stats")


def image_url(message: Sent) -> str:
    return message.images[0]["payload"]["url"]


async def test_the_status_photo_shows_the_picture_forming_and_a_cancel_keeps_its_last_look(fake: FakeMax, max_bot):
    """editMessageMedia and editMessageCaption on MAX: the whole message is sent again, the picture kept."""
    user = MaxUser(fake, 1107)
    await user.send_text("a lighthouse at dusk [steps=6] [step=0.5]")
    screen = await user.next_message(lambda m: bool(m.buttons))
    await user.press(screen, "No style")
    preview = await user.next_message(lambda m: bool(m.images) and m.labels == ["✖ Cancel"])
    first = image_url(preview)
    moved = await user.next_edit(lambda m: m.mid == preview.mid and image_url(m) != first)
    assert moved.labels == ["✖ Cancel"] and "Drawing" in moved.text
    pictures, _ = await user.results()
    assert len(pictures.images) == 4
    await fake.wait_for(lambda c: c.route == "DELETE /messages" and c.query.get("message_id") == preview.mid)

    await user.send_text("a second lighthouse [steps=6] [step=2]")
    screen = await user.next_message(lambda m: bool(m.buttons))
    await user.press(screen, "No style")
    preview = await user.next_message(lambda m: bool(m.images) and m.labels == ["✖ Cancel"])
    await user.press(preview, "Cancel")
    cancelled = await user.next_edit(lambda m: m.mid == preview.mid and "Cancelled" in m.text)
    assert cancelled.buttons == [] and cancelled.images, "the caption changed, the picture stayed"
    assert not refused(fake)


async def test_png_info_favourites_and_history_work_on_max(fake: FakeMax, max_bot):
    user = MaxUser(fake, 1108, name="Вера", locale="ru-RU")
    pictures, buttons = await draw(user, "бумажный фонарик", locale="ru")
    await user.press(buttons, label("ru", "btn-png"))
    picker = await user.next_edit(lambda m: m.mid == buttons.mid)
    assert picker.labels[:4] == ["1", "2", "3", "4"]
    pressed = user.mark()
    await user.press(buttons, "2")
    document = await user.next_message(lambda m: bool(m.files))
    assert document.files[0]["filename"].endswith(".png")
    assert decoded(user, document.files[0]).size == decoded(user, pictures.images[1]).size

    user.cursor = pressed  # the main buttons come back before or after the file
    await user.next_edit(lambda m: m.mid == buttons.mid and label("ru", "btn-info") in m.labels)
    await user.press(buttons, label("ru", "btn-info"))
    await user.next_edit(lambda m: m.mid == buttons.mid and m.labels[:4] == ["1", "2", "3", "4"])
    await user.press(buttons, "1")
    info = await user.next_edit(lambda m: m.mid == buttons.mid and "бумажный фонарик" in m.text)
    assert "Картинка 1" in info.text
    await user.press(buttons, label("ru", "btn-back"))
    await user.next_edit(lambda m: m.mid == buttons.mid)
    await user.press(buttons, label("ru", "btn-star"))
    starred = await user.next_edit(lambda m: m.mid == buttons.mid)
    assert any(text.startswith("⭐") for text in Sent(starred.call, fake.messages[buttons.mid]).labels)

    await user.send_text("/favorites")
    page = await user.next_message(lambda m: bool(m.images))
    assert "бумажный фонарик" in page.text and page.labels[0] == "1"
    await user.press(page, "1")
    again, back = await user.results()
    assert len(again.images) == 4 and label("ru", "btn-starred") in back.labels
    assert not refused(fake)


def seeds_of(caption: str) -> list[int]:
    return [int(seed) for seed in re.findall(r"\d{3,}", caption.rsplit("🌱", 1)[-1])]


@needs("restyle")
async def test_another_style_draws_the_same_seeds_anew_in_russian(fake: FakeMax, max_bot):
    user = MaxUser(fake, 1109, name="Глеб", locale="ru-RU")
    pictures, buttons = await draw(user, "старый мост", locale="ru")
    await user.press(buttons, label("ru", "btn-restyle"))
    screen = await user.next_message(lambda m: bool(m.buttons))
    assert screen.text == shown("ru", "draft-restyle", prompt="старый мост")
    await user.press(screen, "Акварель")
    restyled, again = await user.results()
    assert restyled.text.startswith(label("ru", "mode-restyle")) and "старый мост" in restyled.text
    assert "🎨 Акварель" in restyled.text and seeds_of(restyled.text) == seeds_of(pictures.text)
    assert len(restyled.images) == 4
    assert [user.download(i) for i in restyled.images] != [user.download(i) for i in pictures.images]
    assert label("ru", "btn-restyle") in again.labels and label("ru", "btn-vary", n=1) in again.labels


async def test_reuse_seed_draws_a_new_prompt_from_the_seed_of_the_picture(fake: FakeMax, max_bot):
    user = MaxUser(fake, 1113)
    await user.send_text("a blue kite")
    await user.press(await user.next_message(lambda m: bool(m.buttons)), "Watercolor")
    pictures, buttons = await user.results()
    await user.press(buttons, label("en", "btn-info"))
    await user.next_edit(lambda m: m.mid == buttons.mid and m.labels[:4] == ["1", "2", "3", "4"])
    await user.press(buttons, "2")
    await user.next_edit(lambda m: m.mid == buttons.mid and label("en", "btn-reuse-seed") in m.labels)
    await user.press(buttons, label("en", "btn-reuse-seed"))
    seed = seeds_of(pictures.text)[1]
    question = await user.next_message(lambda m: not m.images)
    assert question.text == shown("en", "ask-seed-prompt", seed=seed)

    await user.send_text("a red kite")
    screen = await user.next_message(lambda m: bool(m.buttons))
    assert screen.text == shown("en", "draft-generate", prompt="a red kite") and "✓ Watercolor" in screen.labels
    await user.press(screen, "Watercolor")
    again, _ = await user.results()
    assert "a red kite" in again.text and "🎨 Watercolor" in again.text and seeds_of(again.text)[0] == seed


@needs("remix")
async def test_remix_asks_what_a_picture_becomes_and_keeps_its_outlines(fake: FakeMax, max_bot):
    user = MaxUser(fake, 1110)
    _, buttons = await draw(user, "a cat on a sofa")
    await user.press(buttons, label("en", "btn-remix"))
    menu = await user.next_edit(lambda m: m.mid == buttons.mid)
    assert menu.text == shown("en", "results-pick-remix") and menu.labels[:4] == ["1", "2", "3", "4"]
    await user.press(buttons, "3")
    question = await user.next_message(lambda m: not m.images)
    assert question.text == shown("en", "ask-remix-prompt", n=3) and question.reply_to == buttons.mid
    restored = Sent(question.call, fake.messages[buttons.mid])
    assert label("en", "btn-remix") in restored.labels, "the main buttons are back under the pictures"

    await user.send_text("a tiger on a sofa")
    screen = await user.next_message(lambda m: bool(m.buttons))
    assert screen.text == shown("en", "draft-remix", prompt="a tiger on a sofa")
    await user.press(screen, "Pencil sketch")
    remixed, remix_buttons = await user.results()
    assert remixed.text.startswith(label("en", "mode-remix")) and "a tiger on a sofa" in remixed.text
    assert "🎨 Pencil sketch" in remixed.text and len(remixed.images) == 4
    assert label("en", "btn-vary", n=1) in remix_buttons.labels


@needs("zoom")
async def test_zoom_out_of_one_picture_to_16_9_then_further(fake: FakeMax, max_bot):
    user = MaxUser(fake, 1111)
    _, buttons = await draw(user, "a tiny house")
    await user.press(buttons, label("en", "btn-zoom"))
    await user.next_edit(lambda m: m.mid == buttons.mid and m.text == shown("en", "results-pick-zoom"))
    await user.press(buttons, "2")
    how = await user.next_edit(lambda m: m.mid == buttons.mid)
    assert how.text == shown("en", "results-zoom-text", n=2)
    assert label("en", "btn-zoom-out", factor=2) in Sent(how.call, fake.messages[buttons.mid]).labels
    await user.press(buttons, label("en", "btn-zoom-wide"))
    zoomed, zoomed_buttons = await user.results()
    assert zoomed.text.startswith(label("en", "mode-zoom")) and "a tiny house" in zoomed.text
    assert len(zoomed.images) == 1, "the picture picked, extended"
    width, height = decoded(user, zoomed.images[0]).size
    assert width > height, "extended to 16:9"

    await user.press(zoomed_buttons, label("en", "btn-zoom"))  # one picture: no picking, the ways to extend it
    await user.next_edit(lambda m: m.mid == zoomed_buttons.mid and m.text == shown("en", "results-zoom-text", n=1))
    await user.press(zoomed_buttons, label("en", "btn-zoom-out", factor=2))
    further, _ = await user.results()
    assert further.text.startswith(label("en", "mode-zoom"))
    assert decoded(user, further.images[0]).size == (width, height), "×2 keeps the aspect (the canvas is the same)"
    assert not refused(fake)


async def test_the_styles_command_lists_the_styles_and_the_one_picked_draws_at_once(fake: FakeMax, max_bot):
    user = MaxUser(fake, 1112)
    await user.send_text("/styles")
    styles = await user.next_message()
    assert styles.text == shown("en", "styles-text", style="No style")
    assert "✓ No style" in styles.labels and "1/2" in styles.labels
    await user.press(styles, label("en", "btn-next"))
    page = await user.next_edit(lambda m: m.mid == styles.mid)
    assert "Comic book" in Sent(page.call, fake.messages[styles.mid]).labels
    await user.press(styles, "Comic book")
    settings = await user.next_edit(lambda m: m.mid == styles.mid)
    assert "Default style: Comic book" in settings.text

    await user.send_text("a paper boat")  # no style screen any more: drawn at once in the default
    pictures, _ = await user.results()
    assert "🎨 Comic book" in pictures.text and "a paper boat" in pictures.text
    assert not [m for m in user.sent_to_me() if m.text.startswith("🎨 Pick a style")]
