"""MaxBotProcess: the real bot (`python -m bot`, or a launcher around it) with MESSENGER=max, aimed at a FakeMax."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fakegram.process import BotProcess

from .server import FakeMax


class _Address:
    """What BotProcess reads of a fake Telegram; a MAX bot gets no Telegram token at all."""

    token = ""
    base_url = ""
    calls: tuple = ()


class MaxBotProcess(BotProcess):
    def __init__(self, fake: FakeMax, env: dict[str, str], args: tuple[str, ...], log_path: Path) -> None:
        super().__init__(_Address(), env=env, args=args, log_path=log_path)  # type: ignore[arg-type]
        self.fake = fake
        for name in ("BOT_TOKEN", "TELEGRAM_API_URL"):
            self.env.pop(name, None)
        self.env.update(MESSENGER="max", MAX_TOKEN=fake.token, MAX_API_URL=fake.base_url)

    async def start(self) -> MaxBotProcess:
        await super().start()
        self.start_index = len(self.fake.calls)
        return self

    async def wait_ready(self, tg: object = None, timeout: float = 180) -> None:  # noqa: ASYNC109
        """Until the bot long-polls GET /updates; raises with its log if it exits first."""
        assert self.proc is not None
        index = self.start_index
        polled = asyncio.ensure_future(self.fake.wait_polling(after=index, timeout=timeout))
        exited = asyncio.ensure_future(self.proc.wait())
        try:
            await asyncio.wait({polled, exited}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            exited.cancel()
        if polled.done() and polled.exception() is None:
            return
        polled.cancel()
        raise RuntimeError(f"the MAX bot never polled (exit {self.proc.returncode}); logs:\n{self.logs()[-4000:]}")
