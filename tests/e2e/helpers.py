"""End-to-end helpers: the real bot process (`python -m bot`, tiny offline models) polling a FakeTelegram.

One bot per test module (it takes seconds to start; tests/e2e/conftest.py starts it); each test uses its own user
ids. Fixtures and tests of a module share the module's event loop, which the fake server and the subprocess need.
"""

from __future__ import annotations

import functools
import io
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fakegram import BotMessage, BotProcess, FakeTelegram, FakeUser
from fakegram.objects import parse_html
from PIL import Image

from locales import Translator

REPO = Path(__file__).resolve().parents[2]
# The same tiny-kit cache as tests/conftest.py's engine_cache fixture (needed here at collection time).
CACHE = Path(os.environ.get("EASEL_TEST_CACHE", REPO / ".cache" / "test"))

# Fast engine settings for tests: two denoising steps, no warm-up, CPU.
FAST_ENV = {
    "ENGINE_MODEL": "tiny",
    "ENGINE_DEVICE": "cpu",
    "ENGINE_QUALITY_STEPS": "2",
    "ENGINE_FAST_STEPS": "1",
    "ENGINE_WARMUP": "false",
    "DEFAULT_LOCALE": "en",
    "LOG_LEVEL": "INFO",
}
TRANSLATOR = Translator("en")
PLAIN_BOT = ("-m", "bot")
# The real bot with engine faults a prompt asks for ("[oom]", "[hold=S]"...): see faulty_bot.py.
FAULTY_BOT = ("tests/e2e/faulty_bot.py",)


@functools.cache
def engine_modes() -> frozenset[str]:
    """What the tiny engine can do, asked of a real Studio (modes are being added in parallel)."""
    from engine.settings import EngineSettings
    from engine.studio import Studio

    settings = EngineSettings(model="tiny", device="cpu", cache_dir=CACHE, warmup=False)
    return frozenset(mode.value for mode in Studio(settings).available_modes())


def needs(*modes: str) -> pytest.MarkDecorator:
    missing = sorted(set(modes) - engine_modes())
    return pytest.mark.skipif(bool(missing), reason=f"engine mode(s) not available yet: {', '.join(missing)}")


def fast_env(cache: Path, **env: str) -> dict[str, str]:
    """A bot's whole environment: FAST_ENV, the tiny kit's cache folder, then `env`."""
    return {**FAST_ENV, "ENGINE_CACHE_DIR": str(cache), **env}


def assert_token_absent(logs: str, token: str) -> None:
    """The token's secret half appears nowhere (the bot id alone is public: it is in every getMe)."""
    secret = token.split(":", 1)[1]
    assert secret not in logs, "the bot token leaked into the log"
    assert secret[:12] not in logs, "a part of the bot token leaked into the log"


async def bot_running(
    tg: FakeTelegram, tmp_path_factory: pytest.TempPathFactory, env: dict[str, str], args: tuple[str, ...] = PLAIN_BOT
) -> AsyncIterator[BotProcess]:
    """Body of a module's `bot` fixture: started with the whole `env` (see fast_env), ready, yielded, stopped with
    SIGTERM at the end of the module (a clean exit, 0); then its whole log is checked for the token and printed."""
    log_path = tmp_path_factory.mktemp("bot") / "bot.log"
    proc = BotProcess(tg, env=env, args=args, log_path=log_path)
    await proc.start()
    try:
        await proc.wait_ready(timeout=180)
        yield proc
        code, _ = await proc.terminate(timeout=150)
        assert code == 0, f"the bot exited with {code}"
        assert_token_absent(proc.logs(), tg.token)
    finally:
        await proc.close()
        print(f"---- {log_path} ----\n{proc.logs()[-20000:]}")


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def sizes(message: BotMessage) -> list[tuple[int, int]]:
    return [decoded(photo).size for photo in message.photos]


async def draw(user: FakeUser, prompt: str, style: str = "No style", *, mention: bool = False):
    """A user writes a prompt, taps a style and gets the album and the buttons under it."""
    await user.send_text(prompt, mention=mention)
    screen = await user.next_message(lambda m: m.buttons != [])
    await user.press(screen, style)
    return await results(user)


async def results(user: FakeUser, timeout: float = 90) -> tuple[BotMessage, BotMessage]:  # noqa: ASYNC109
    """The next album (or single photo) and the message with buttons replying to it. A status photo (the live
    preview, with its Cancel button) is neither: any drawing of three steps or more shows one."""

    def pictures(m: BotMessage) -> bool:
        return m.method == "sendMediaGroup" or (m.method == "sendPhoto" and m.buttons == [])

    album = await user.next_message(pictures, timeout=timeout)
    buttons = await user.next_message(lambda m: m.method == "sendMessage" and m.buttons != [], timeout=timeout)
    first = album.messages[0]["message_id"]
    assert buttons.message.get("reply_to_message", {}).get("message_id") == first, "buttons must reply to the album"
    return album, buttons


def shown(locale: str, key: str, **values) -> str:
    """The text a user sees for a locale key (the bot speaks HTML; Telegram shows the parsed text)."""
    return parse_html(TRANSLATOR[locale](key, **values))[0]


async def a_prompt_still_works(user: FakeUser, locale: str = "en", album: bool = False) -> None:
    """After something odd, the user's next prompt gets its style screen (and with `album`, its pictures)."""
    prompt = "маяк ночью" if locale == "ru" else "a lighthouse at night"
    await user.send_text(prompt)
    screen = await user.next_message(lambda m: m.buttons != [])
    assert screen.text == shown(locale, "draft-generate", prompt=prompt)
    if album:
        await user.press(screen, screen.labels[0])
        pictures, _ = await results(user)
        assert len(pictures.photos) == 4


def is_not_modified(call) -> bool:
    return "message is not modified" in str(call.response.get("description"))


def assert_nothing_failed(tg: FakeTelegram, bot: BotProcess) -> None:
    """No handler crashed (the generic apology was never sent, no traceback logged) and Telegram refused no reply
    ("message is not modified" is harmless)."""
    generic = {TRANSLATOR[locale]("error-internal") for locale in ("en", "ru")}
    assert not [call for call in tg.calls if call.params.get("text") in generic]
    refused = [
        call
        for call in tg.calls
        if call.response and not call.ok and call.method != "getUpdates" and not is_not_modified(call)
    ]
    assert not [(call.method, call.response.get("description")) for call in refused]
    assert "Traceback" not in bot.logs()
