"""End-to-end helpers: the real bot process (`python -m bot`, tiny offline models) polling a FakeTelegram.

One bot per test module (it takes seconds to start); each test uses its own user ids. Fixtures and tests
of a module share the module's event loop, which the fake server and the subprocess need.
"""

from __future__ import annotations

import functools
import io
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fakegram import BotMessage, BotProcess, FakeTelegram, FakeUser
from PIL import Image

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


async def start_bot(tg: FakeTelegram, log_path: Path, cache: Path, **env: str) -> BotProcess:
    proc = BotProcess(tg, env={**FAST_ENV, "ENGINE_CACHE_DIR": str(cache), **env}, log_path=log_path)
    await proc.start()
    await proc.wait_ready(timeout=180)
    return proc


async def bot_running(
    tg: FakeTelegram, tmp_path_factory: pytest.TempPathFactory, cache: Path, **env: str
) -> AsyncIterator[BotProcess]:
    """Body of a module's `bot` fixture: started, yielded, stopped; its log printed at the end."""
    log_path = tmp_path_factory.mktemp("bot") / "bot.log"
    proc = await start_bot(tg, log_path, cache, **env)
    try:
        yield proc
        code, _ = await proc.terminate(timeout=120)  # SIGTERM at the end of every module: a clean exit
        assert code == 0, f"the bot exited with {code}"
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
    """The next album (or single photo) and the message with buttons replying to it."""
    album = await user.next_message(lambda m: m.method in ("sendMediaGroup", "sendPhoto"), timeout=timeout)
    buttons = await user.next_message(lambda m: m.method == "sendMessage" and m.buttons != [], timeout=timeout)
    first = album.messages[0]["message_id"]
    assert buttons.message.get("reply_to_message", {}).get("message_id") == first, "buttons must reply to the album"
    return album, buttons
