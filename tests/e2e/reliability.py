"""Helpers of the reliability tests (faults, Redis faults, cancel and shutdown): a request followed to a status,
calls that succeeded."""

from __future__ import annotations

from fakegram import BotMessage, FakeTelegram, FakeUser


async def start_request(user: FakeUser, prompt: str, until: str = "", style: str = "No style") -> BotMessage:
    """Write a prompt, tap a style; returns the status message once its text shows `until` (any status if
    empty)."""
    await user.send_text(prompt)
    screen = await user.next_message(lambda m: m.buttons != [])
    await user.press(screen, style)
    return await user.next_edit(lambda m: m.message_id == screen.message_id and until in (m.text or ""), timeout=60)


def sent_ok(tg: FakeTelegram, method: str, chat_id: int) -> list:
    return [c for c in tg.calls_of(method, chat_id) if c.ok]
