"""Following many users' chats at once: each call of the fake is looked at once and handed to whoever waits for
it (150 coroutines each waiting on the fake's condition would rescan every call for every one of them)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable

from .server import Call, FakeTelegram


class Watch:
    """Follows the fake's calls once for all users; `wait` for the first call to a chat that matches."""

    def __init__(self, tg: FakeTelegram) -> None:
        self.tg = tg
        self.next = 0
        self.history: dict[int, list[Call]] = defaultdict(list)
        self.waiting: dict[int, list[tuple[Callable[[Call], bool], asyncio.Future]]] = defaultdict(list)

    async def run(self) -> None:
        while True:
            calls = self.tg.calls
            while self.next < len(calls):
                call = calls[self.next]
                if call.method != "getUpdates" and call.response is None:
                    break  # answered within milliseconds; keep the order
                self.next += 1
                if call.ok and call.chat_id is not None:
                    self._dispatch(call)
            await asyncio.sleep(0.01)

    def _dispatch(self, call: Call) -> None:
        self.history[call.chat_id].append(call)
        for entry in list(self.waiting[call.chat_id]):
            matches, future = entry
            if matches(call):
                self.waiting[call.chat_id].remove(entry)
                if not future.done():
                    future.set_result(call)

    async def wait(self, chat_id: int, matches: Callable[[Call], bool], what: str, timeout: float = 150) -> Call:  # noqa: ASYNC109
        for call in self.history[chat_id]:
            if matches(call):
                return call
        future = asyncio.get_running_loop().create_future()
        self.waiting[chat_id].append((matches, future))
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            sent = [c.params.get("text") or c.method for c in self.history[chat_id]][-5:]
            raise AssertionError(f"user {chat_id} never got {what} in {timeout} s; last: {sent}") from None


def replies_to(message_id: int) -> Callable[[Call], bool]:
    def matches(call: Call) -> bool:
        return (
            call.method == "sendMessage" and (call.result.get("reply_to_message") or {}).get("message_id") == message_id
        )

    return matches


def edits(message_id: int, containing: str = "") -> Callable[[Call], bool]:
    return lambda call: (
        call.method == "editMessageText"
        and call.params.get("message_id") == message_id
        and containing in call.params.get("text", "")
    )
