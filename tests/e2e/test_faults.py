"""Faults, through the real bot process: Telegram's 429s, dropped connections and harmless errors; the engine
running out of memory or out of time; SIGTERM while a job is drawing. The token stays out of the log all along.

This module's bot logs at DEBUG (the most it ever writes) and runs through faulty_bot.py, which lets a prompt
ask for an out-of-memory error ("[oom]", "[oom-once]") or a long job ("[hold=S]").
"""

from __future__ import annotations

import asyncio
import time

import pytest
from e2e.helpers import FAULTY_BOT, draw, results
from e2e.reliability import sent_ok, start_request
from fakegram import NOT_MODIFIED, FakeTelegram, FakeUser

pytestmark = pytest.mark.asyncio(loop_scope="module")
RUN_TIMEOUT_S = 20
DRAIN_S = 60
BOT_ARGS = FAULTY_BOT
BOT_ENV = {"LOG_LEVEL": "DEBUG", "ENGINE_RUN_TIMEOUT_S": str(RUN_TIMEOUT_S), "SHUTDOWN_DRAIN_S": str(DRAIN_S)}


def to(user: FakeUser):
    return lambda params: int(params.get("chat_id") or 0) == user.chat_id


async def test_a_429_on_the_album_waits_retry_after_and_sends_it_once(tg: FakeTelegram, bot):
    user = FakeUser(tg, 701)
    tg.fail_next("sendChatAction", 429, retry_after=5, when=to(user))  # the "sending photo…" hint: skipped
    album_fault = tg.fail_next("sendMediaGroup", 429, retry_after=2, when=to(user))
    edit_fault = tg.fail_next("editMessageText", 429, retry_after=1, when=to(user))  # the first status edit
    album, _ = await draw(user, "a lighthouse in fog")
    assert len(album.photos) == 4 and "a lighthouse in fog" in album.text

    tries = tg.calls_of("sendMediaGroup", user.chat_id)
    assert [c.status for c in tries] == [429, 200], "refused once, then sent once"
    assert tries[1].time - tries[0].time >= 2, "it waited retry_after"
    assert album_fault.hits and edit_fault.hits
    assert len(sent_ok(tg, "sendMessage", user.chat_id)) == 2, "the style screen and the buttons, once each"


async def test_dropped_connections_and_server_errors_are_retried_without_duplicates(tg: FakeTelegram, bot):
    user = FakeUser(tg, 702)
    tg.fail_next("sendMediaGroup", disconnect=True, when=to(user))
    tg.fail_next("sendMessage", 502, "Bad Gateway", when=lambda p: to(user)(p) and "What next" in p.get("text", ""))
    tg.fail_next("deleteMessage", disconnect=True, when=to(user))
    album, buttons = await draw(user, "a harbour at dawn")
    assert "a harbour at dawn" in album.text and "4K" in " ".join(buttons.labels)
    assert len(sent_ok(tg, "sendMediaGroup", user.chat_id)) == 1
    assert [c.status for c in tg.calls_of("sendMediaGroup", user.chat_id)] == [0, 200]
    assert len([c for c in sent_ok(tg, "sendMessage", user.chat_id) if "What next" in c.params["text"]]) == 1
    status_id = album.call.index  # the status message is deleted after the album, despite the dropped call
    await tg.wait_for("deleteMessage", lambda c: c.ok and to(user)(c.params), after=status_id)


async def test_chat_actions_refused_with_429_are_skipped_quietly_and_the_album_arrives(tg: FakeTelegram, bot):
    user = FakeUser(tg, 705)
    before = len(bot.logs())
    refused = tg.fail_next("sendChatAction", 429, retry_after=30, times=20, when=to(user))
    album, buttons = await draw(user, "a kite over the dunes")
    assert len(album.photos) == 4 and "4K" in " ".join(buttons.labels)
    assert refused.hits, "the chat action was tried"
    # The hint is over once the status message goes; one more round trip lets a leaked task be reported.
    await tg.wait_for("deleteMessage", lambda c: c.ok and to(user)(c.params), after=album.call.index)
    await user.send_command("/help")
    await user.next_message(lambda m: "How it works" in (m.text or ""))
    logs = bot.logs()[before:]
    assert "Task exception was never retrieved" not in logs and "Traceback" not in logs, logs[-3000:]
    assert [c.status for c in tg.calls_of("sendMediaGroup", user.chat_id)] == [200], "sent once, not delayed"


async def test_not_modified_and_query_too_old_change_nothing_for_the_user(tg: FakeTelegram, bot):
    user = FakeUser(tg, 703)
    before = len(bot.logs())
    await user.send_text("a paper boat")
    screen = await user.next_message()
    tg.fail_next("answerCallbackQuery", 400)  # "query is too old"
    tg.fail_next("editMessageText", 400, NOT_MODIFIED, when=to(user), times=2)
    await user.press(screen, "No style")
    album, _ = await results(user)
    assert "a paper boat" in album.text
    assert " ERROR " not in bot.logs()[before:], "nothing was treated as a failure"


async def test_polling_survives_dropped_connections(tg: FakeTelegram, bot):
    user = FakeUser(tg, 704)
    await user.send_command("/help")
    await user.next_message(lambda m: "How it works" in (m.text or ""))
    fault = tg.fail_next("getUpdates", disconnect=True, times=2)
    await user.send_command("/help")  # answered from the poll in flight; the next two polls fail
    await user.next_message(lambda m: "How it works" in (m.text or ""))
    await user.send_text("a snail in the rain")  # waits at the fake until polling is back (after its back-off)
    assert "a snail in the rain" in (await user.next_message(timeout=60)).text
    assert len(fault.hits) == 2 and "Failed to fetch updates" in bot.logs()


async def test_out_of_memory_once_retries_smaller_and_delivers(tg: FakeTelegram, bot):
    user = FakeUser(tg, 711)
    album, _ = await draw(user, "a red balloon [oom-once]")
    assert len(album.photos) == 4
    assert "out of memory" in bot.logs().lower()


async def test_out_of_memory_twice_is_a_message_and_the_worker_keeps_serving(tg: FakeTelegram, bot):
    user = FakeUser(tg, 712)
    told = await start_request(user, "a huge cathedral [oom]", until="memory")
    assert "didn't fit into memory" in told.text and told.buttons == []
    album, _ = await draw(user, "a small chapel")
    assert "a small chapel" in album.text


async def test_a_job_over_its_time_limit_is_stopped_with_a_message(tg: FakeTelegram, bot):
    user = FakeUser(tg, 713)
    started = time.monotonic()
    status = await start_request(user, "an endless staircase [hold=600]", until="Drawing")
    told = await user.next_edit(
        lambda m: m.message_id == status.message_id and "took too long" in (m.text or ""), timeout=RUN_TIMEOUT_S + 30
    )
    assert told.buttons == [] and time.monotonic() - started >= RUN_TIMEOUT_S - 1
    album, _ = await draw(user, "a short staircase")
    assert len(album.photos) == 4, "the worker serves the next job"


async def test_sigterm_finishes_and_delivers_the_running_job_and_turns_new_requests_away(tg: FakeTelegram, bot):
    """Last in this module: the bot exits. Bound: SHUTDOWN_DRAIN_S + 80 s at worst; here the running job's
    remaining seconds plus a little."""
    drawing, queued, late, asking = (FakeUser(tg, user_id) for user_id in (721, 722, 723, 724))
    await late.send_text("a request during the restart")
    late_screen = await late.next_message()
    status = await start_request(drawing, "a lighthouse at night [hold=5]", until="Drawing")
    waiting = await start_request(queued, "a harbour at dawn", until="in line")

    stopping = asyncio.create_task(bot.terminate(timeout=DRAIN_S + 90))
    told = await queued.next_edit(lambda m: m.message_id == waiting.message_id and "restarting" in (m.text or ""))
    assert told.buttons == [], "a waiting job ends at once, with the restart message"

    await late.press(late_screen, "No style")  # a request during the drain
    assert "restarting" in (await late.next_message(lambda m: m.method == "sendMessage")).text
    await asking.send_text("a new prompt during the drain")
    assert "try again in a minute" in (await asking.next_message()).text
    await asking.send_command("/help")  # commands still answer
    assert "How it works" in (await asking.next_message()).text

    album, _ = await results(drawing, timeout=DRAIN_S)
    assert "a lighthouse at night" in album.text and len(album.photos) == 4
    assert len(sent_ok(tg, "sendMediaGroup", late.chat_id)) == 0
    code, elapsed = await stopping
    assert code == 0 and elapsed < DRAIN_S
    assert "stopped cleanly" in bot.logs()
    assert tg.updates == [], "every handled update was confirmed: none comes again after the restart"
    edits = [c for c in tg.calls_of("editMessageText", drawing.chat_id) if c.params["message_id"] == status.message_id]
    assert any("Drawing" in c.params["text"] for c in edits)
