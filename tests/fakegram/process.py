"""BotProcess: the real, unmodified bot (``python -m bot``) as a subprocess pointed at a FakeTelegram."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from .server import FakeTelegram

REPO_ROOT = Path(__file__).resolve().parents[2]
# Settings a developer's shell may hold that must never reach a bot under test.
SCRUBBED = (
    "BOT_TOKEN", "TELEGRAM_API_URL", "REDIS_URL", "WEBHOOK_URL",
    "ALLOWED_USER_IDS", "ALLOWED_CHAT_IDS", "ADMIN_USER_IDS",
)  # fmt: skip
# Set explicitly, so that a developer's .env (read by the bot's settings) cannot switch them on.
# No HTTP server unless a test asks for one (HTTP_PORT): bot processes of several tests share the machine.
# Pictures on disk (PICTURE_DIR) in one folder for the whole session: a bot started again after a crash finds them.
DEFAULTS = {
    "WEBHOOK_URL": "",
    "REDIS_URL": "",
    "HTTP_PORT": "0",
    "PICTURE_DIR": tempfile.mkdtemp(prefix="easel-test-pictures-"),
}


class Exit(NamedTuple):
    code: int
    elapsed: float


class BotProcess:
    """``python -m bot`` with BOT_TOKEN/TELEGRAM_API_URL aimed at ``tg``, HF_HUB_OFFLINE=1, polling (no
    WEBHOOK_URL), in-memory storage (no REDIS_URL) unless ``env`` says otherwise.
    stdout and stderr go to one log file (``logs()``)."""

    def __init__(
        self,
        tg: FakeTelegram,
        env: dict[str, str] | None = None,
        args: tuple[str, ...] = ("-m", "bot"),
        cwd: Path = REPO_ROOT,
        log_path: Path | None = None,
    ):
        self.tg, self.args, self.cwd = tg, args, cwd
        self.env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
        self.env.update(BOT_TOKEN=tg.token, TELEGRAM_API_URL=tg.base_url, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
        self.env.update(DEFAULTS)
        self.env.update({k: str(v) for k, v in (env or {}).items()})
        if log_path is None:
            fd, name = tempfile.mkstemp(prefix="bot-", suffix=".log")
            os.close(fd)
            log_path = Path(name)
        self.log_path = log_path
        self.proc: asyncio.subprocess.Process | None = None
        self.start_index = 0

    async def start(self) -> BotProcess:
        self.start_index = len(self.tg.calls)
        log = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, *self.args, cwd=self.cwd, env=self.env,
                stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # its own process group: cleanup can reach its children
            )  # fmt: skip
        finally:
            os.close(log)
        return self

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode if self.proc else None

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _tail(self, n: int = 4000) -> str:
        return self.logs()[-n:]

    async def wait_ready(self, tg: FakeTelegram | None = None, timeout: float = 120) -> None:  # noqa: ASYNC109
        """Wait until the bot has called getUpdates since start; raise with its logs if it exits first."""
        tg = tg or self.tg
        polled = asyncio.ensure_future(
            tg.wait_for("getUpdates", after=self.start_index, finished=False, timeout=timeout)
        )
        exited = asyncio.ensure_future(self.proc.wait())
        try:
            await asyncio.wait({polled, exited}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            exited.cancel()
        if polled.done() and polled.exception() is None:
            return
        polled.cancel()
        if self.proc.returncode is not None:
            raise RuntimeError(f"bot exited with {self.proc.returncode} before polling; logs:\n{self._tail()}")
        raise TimeoutError(f"bot did not call getUpdates within {timeout}s; logs:\n{self._tail()}")

    async def terminate(self, timeout: float = 30) -> Exit:  # noqa: ASYNC109
        """SIGTERM, wait; returns (exit code, seconds it took). Kills and raises TimeoutError past ``timeout``."""
        if self.proc.returncode is not None:
            return Exit(self.proc.returncode, 0.0)
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            await self.kill()
            raise TimeoutError(f"bot ignored SIGTERM for {timeout}s; logs:\n{self._tail()}") from None
        return Exit(code, time.monotonic() - started)

    async def kill(self) -> None:
        """SIGKILL the bot's process group (the bot and anything it started)."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        await self.proc.wait()

    async def __aenter__(self) -> BotProcess:
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self, timeout: float = 15) -> None:  # noqa: ASYNC109
        """Stop it whatever its state: SIGTERM, then SIGKILL to the group."""
        if self.proc is None:
            return
        with contextlib.suppress(TimeoutError):
            await self.terminate(timeout)
        # leftovers the bot started; a group id is not reused while the group has members
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
