"""Cancel a request while it waits or runs; SIGTERM lets the running one finish, then the bot exits cleanly.

This module's bot is tests/e2e/faulty_bot.py, so that a request is still running when the user acts, whatever the
machine's speed: "[hold=600]" in a prompt keeps its job running until it is cancelled (or the engine's run timeout,
180 s, ends it: long after these tests would fail), "[hold=shutdown]" until the bot's shutdown has begun.
"""

from __future__ import annotations

import asyncio
import itertools

import pytest
from e2e.helpers import FAULTY_BOT, results
from e2e.reliability import start_request
from fakegram import FakeTelegram, FakeUser

pytestmark = pytest.mark.asyncio(loop_scope="module")
DRAIN_S = 60
BOT_ARGS = FAULTY_BOT
BOT_ENV = {"SHUTDOWN_DRAIN_S": str(DRAIN_S)}


async def test_cancel_while_waiting_and_while_running(tg: FakeTelegram, bot):
    user = FakeUser(tg, 501)
    running = await start_request(user, "a slow sunrise [hold=600]", until="Drawing")
    waiting = await start_request(user, "a second sunrise", until="in line")
    assert waiting.labels == ["✖ Cancel"]

    query = await user.press(waiting, "Cancel")
    cancelled = await user.next_edit(lambda m: m.message_id == waiting.message_id and "Cancelled" in m.text)
    assert cancelled.buttons == []
    assert user.answer_of(query)["text"] == "Cancelling…"

    await user.send_command("/cancel")
    assert "Cancelled 1 request." in (await user.next_message()).text
    stopped = await user.next_edit(lambda m: m.message_id == running.message_id and "Cancelled" in m.text)
    assert stopped.buttons == []
    assert not [c for c in tg.calls_of("sendMediaGroup") if c.chat_id == user.chat_id], "nothing was delivered"


async def test_a_full_line_is_refused_at_once_and_cancel_clears_it(tg: FakeTelegram, bot):
    """At most 1 running + 2 waiting per user (ENGINE_MAX_*_PER_USER); the next one hears so at once."""
    user = FakeUser(tg, 505)
    await start_request(user, "first [hold=600]", until="Drawing")
    for prompt in ("second", "third"):
        await start_request(user, prompt, until="in line")
    await user.send_text("fourth")
    screen = await user.next_message()
    await user.press(screen, "No style")
    refusal = await user.next_message()
    assert "already have pictures in progress" in refusal.text
    assert "✓ No style" in user.buttons(screen), "the style screen stays for a later try"

    await user.send_command("/cancel")
    assert "Cancelled 3 requests." in (await user.next_message(lambda m: "Cancelled" in (m.text or ""))).text


async def test_sigterm_delivers_the_running_job_and_exits_cleanly(tg: FakeTelegram, bot):
    drawing, queued, late = FakeUser(tg, 502), FakeUser(tg, 503), FakeUser(tg, 504)
    status = await start_request(drawing, "a lighthouse at night [hold=shutdown]", until="Drawing")
    waiting = await start_request(queued, "a harbour at dawn", until="in line")

    stopping = asyncio.create_task(bot.terminate(timeout=DRAIN_S + 60))
    update = await late.send_text("a request during the restart")

    album, _ = await results(drawing, timeout=DRAIN_S)
    assert "a lighthouse at night" in album.text and len(album.photos) == 4
    told = await queued.next_edit(lambda m: m.message_id == waiting.message_id and "restarting" in m.text)
    assert told.buttons == []

    edits = [c for c in tg.calls_of("editMessageText", drawing.chat_id) if c.params["message_id"] == status.message_id]
    gaps = [later.time - earlier.time for earlier, later in itertools.pairwise(edits)]
    assert all(gap >= 0.9 for gap in gaps), f"progress edits at most about once a second: {gaps}"

    code, elapsed = await stopping
    assert code == 0 and elapsed < DRAIN_S
    logs = bot.logs()
    assert "held until the engine closed (interrupted: False)" in logs, "the job was running when the shutdown began"
    assert "stopped cleanly" in logs
    unread = any(u.get("message", {}).get("message_id") == update["message_id"] for u in tg.updates)
    assert unread or late.sent_to_me(), "a message during shutdown is kept for the next start, or answered"
