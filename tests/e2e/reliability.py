"""Helpers of the reliability tests (access, faults, Redis faults, load): the bot started through
faulty_bot.py (engine faults on request), and the check that the token never reached a log line."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from e2e.helpers import FAST_ENV
from fakegram import BotMessage, BotProcess, FakeTelegram, FakeUser

FAULTY_BOT = ("tests/e2e/faulty_bot.py",)


def assert_token_absent(logs: str, token: str) -> None:
    """The token's secret half appears nowhere (the bot id alone is public: it is in every getMe)."""
    secret = token.split(":", 1)[1]
    assert secret not in logs, "the bot token leaked into the log"
    assert secret[:12] not in logs, "a part of the bot token leaked into the log"


async def running_bot(
    tg: FakeTelegram,
    tmp_path_factory: pytest.TempPathFactory,
    cache: Path,
    args: tuple[str, ...] = FAULTY_BOT,
    **env: str,
) -> AsyncIterator[BotProcess]:
    """Body of a module's `bot` fixture: started, yielded, stopped with SIGTERM (exit 0); then its whole
    log is checked for the token and printed."""
    log_path = tmp_path_factory.mktemp("bot") / "bot.log"
    proc = BotProcess(tg, env={**FAST_ENV, "ENGINE_CACHE_DIR": str(cache), **env}, args=args, log_path=log_path)
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


async def start_request(user: FakeUser, prompt: str, until: str = "", style: str = "No style") -> BotMessage:
    """Write a prompt, tap a style; returns the status message once its text shows `until` (any status if
    empty)."""
    await user.send_text(prompt)
    screen = await user.next_message(lambda m: m.buttons != [])
    await user.press(screen, style)
    return await user.next_edit(lambda m: m.message_id == screen.message_id and until in (m.text or ""), timeout=60)


def sent_ok(tg: FakeTelegram, method: str, chat_id: int) -> list:
    return [c for c in tg.calls_of(method, chat_id) if c.ok]
