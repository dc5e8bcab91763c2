"""The bot process dies (kill -9) with requests accepted and not delivered; with Redis, the next start owes them:
every user gets their pictures (or a plain word with a button to try again), in the order they asked, the old
status messages come back to life (a Cancel that cancels), and no album is lost or sent twice.

Each test starts its own bot processes on the module's Redis and FakeTelegram (the `bot` fixture is not used).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from e2e.helpers import FAULTY_BOT, TRANSLATOR, results
from e2e.reliability import sent_ok, start_request
from fakegram import BotProcess, FakeTelegram, FakeUser
from redis import Redis
from redisproc import RedisServer

pytestmark = pytest.mark.asyncio(loop_scope="module")
BOT_REDIS = True
BOT_ENV = {"ENGINE_BATCH_MAX": "1"}  # one job a call: the order they are taken up in is the order they finish in


@pytest_asyncio.fixture(loop_scope="module")
async def launch(tg: FakeTelegram, bot_env: dict[str, str], tmp_path_factory) -> AsyncIterator:
    """Start a bot (the real one, with held jobs on request) on the module's Redis; all are gone after the test."""
    started: list[BotProcess] = []

    async def start() -> BotProcess:
        log_path = tmp_path_factory.mktemp("bot") / "bot.log"
        proc = BotProcess(tg, env=bot_env, args=FAULTY_BOT, log_path=log_path)
        started.append(proc)
        await proc.start()
        await proc.wait_ready(timeout=180)
        return proc

    yield start
    for proc in started:
        await proc.close()
        print(f"---- {proc.log_path} ----\n{proc.logs()[-8000:]}")


async def kept_with_its_status(server: RedisServer, user: FakeUser, message_id: int) -> None:
    """Wait until the user's request whose status message is `message_id` is saved with it."""
    client = Redis.from_url(server.url)
    try:
        for _ in range(100):
            for key in client.scan_iter("easel:job:*"):
                record = json.loads(client.get(key) or "{}")
                if (record.get("owner"), record.get("message_id")) == (user.id, message_id):
                    return
            await asyncio.sleep(0.05)
    finally:
        client.close()
    raise AssertionError(f"no request saved with status message {message_id}")


def gone_with_their_ttl(server: RedisServer, pattern: str) -> None:
    client = Redis.from_url(server.url)
    try:
        for key in client.scan_iter(pattern):
            client.delete(key)
    finally:
        client.close()


async def test_a_crash_while_one_draws_and_two_wait_owes_all_three_their_pictures(tg: FakeTelegram, launch, redis):
    first = await launch()
    drawing, waiting, cancelling = FakeUser(tg, 1101), FakeUser(tg, 1102, language_code="ru"), FakeUser(tg, 1103)
    drawing_status = await start_request(drawing, "a lighthouse at night [hold=4]", until="Drawing")
    waiting_status = await start_request(waiting, "рыжий кот", until="в очереди", style="Без стиля")
    cancelling_status = await start_request(cancelling, "a paper boat [hold=30]", until="in line")

    await first.kill()  # kill -9: no drain, no goodbye
    edits_before = len(sent_ok(tg, "editMessageText", cancelling.chat_id))
    second = await launch()

    # The waiting request's old status message works again: its Cancel cancels.
    await cancelling.next_edit(lambda m: m.message_id == cancelling_status.message_id, timeout=60)
    assert len(sent_ok(tg, "editMessageText", cancelling.chat_id)) > edits_before, "the status came back to life"
    query = await cancelling.press(cancelling_status, "Cancel")
    await tg.wait_for("answerCallbackQuery", lambda c: c.params["callback_query_id"] == query)
    assert cancelling.answer_of(query)["text"] == TRANSLATOR["en"].plain("job-cancelling")
    await cancelling.next_edit(lambda m: m.message_id == cancelling_status.message_id and "Cancelled" in m.text)

    album, buttons = await results(drawing)
    assert "a lighthouse at night" in album.text and len(album.photos) == 4 and "4K" in " ".join(buttons.labels)
    russian, _ = await results(waiting)
    assert "рыжий кот" in russian.text
    assert drawing_status.message_id != album.message_id
    for user, status in ((drawing, drawing_status), (waiting, waiting_status)):
        assert len(sent_ok(tg, "sendMediaGroup", user.chat_id)) == 1, "one album, not two"
        await tg.wait_for("deleteMessage", lambda c, s=status: c.ok and c.params["message_id"] == s.message_id)
    assert not sent_ok(tg, "sendMediaGroup", cancelling.chat_id), "a cancelled request draws nothing"
    first_album = sent_ok(tg, "sendMediaGroup", drawing.chat_id)[0].index
    assert first_album < sent_ok(tg, "sendMediaGroup", waiting.chat_id)[0].index, "taken up in their order"
    assert "taken up after a restart" in second.logs()
    await second.terminate()


async def test_a_crash_while_the_album_is_sent_delivers_it_once(tg: FakeTelegram, launch):
    first = await launch()
    user = FakeUser(tg, 1104)
    # The upload never completes: the bot dies in the middle of it (Telegram got nothing).
    tg.fail_next("sendMediaGroup", disconnect=True, delay=5, when=lambda p: str(p.get("chat_id")) == str(user.chat_id))
    status = await start_request(user, "a windmill")
    await tg.wait_for("sendMediaGroup", lambda c: c.chat_id == user.chat_id, timeout=60)
    await first.kill()
    second = await launch()
    album, buttons = await results(user)
    assert "a windmill" in album.text and len(album.photos) == 4
    assert len(sent_ok(tg, "sendMediaGroup", user.chat_id)) == 1
    await tg.wait_for("deleteMessage", lambda c: c.ok and c.params["message_id"] == status.message_id)
    await user.press(buttons, "V1")  # the pictures delivered from storage are the buttons' pictures
    again, _ = await results(user)
    assert len(again.photos) == 4
    await second.terminate()


async def test_a_request_whose_pictures_are_gone_says_so_with_a_button_to_try_again(
    tg: FakeTelegram, launch, redis: RedisServer, sample_bytes
):
    first = await launch()
    user = FakeUser(tg, 1105)
    blocker = FakeUser(tg, 1106)
    await start_request(blocker, "a slow clock [hold=6]", until="Drawing")  # keeps the user's photo job waiting
    await user.send_photo(sample_bytes("chelsea.png"))
    choices = await user.next_message()
    await user.press(choices, "4K")
    status = await user.next_message(lambda m: "in line" in (m.text or ""), timeout=60)
    await kept_with_its_status(redis, user, status.message_id)  # (a kill in the millisecond before: a new message)
    await first.kill()
    gone_with_their_ttl(redis, "easel:blob:*")
    second = await launch()
    lost = await user.next_edit(lambda m: m.message_id == status.message_id and "could not redo" in m.text, timeout=60)
    assert lost.labels == ["🔁 Try again"], "a plain word and one button, no Cancel that cancels nothing"
    query = await user.press(lost, "Try again")
    await tg.wait_for("answerCallbackQuery", lambda c: c.params["callback_query_id"] == query)
    assert "too old" in (await user.next_message(timeout=30)).text, "still gone: said again, nothing breaks"
    await second.terminate()
