"""Redis goes away mid-session (a real redis-server, killed with SIGKILL, append-only persistence): what was
written survives, the bot reconnects by itself, a message caught by the outage gets an answer, and a job that
finishes during it is delivered all the same, with a note instead of the buttons.
"""

from __future__ import annotations

import pytest
from e2e.helpers import FAULTY_BOT, draw, results
from e2e.reliability import sent_ok, start_request
from fakegram import FakeTelegram, FakeUser
from redisproc import RedisServer

pytestmark = pytest.mark.asyncio(loop_scope="module")
BOT_ARGS = FAULTY_BOT
BOT_REDIS = True


@pytest.fixture(autouse=True)
def redis_back(redis: RedisServer):
    """Whatever a test did to Redis, the next one finds it running."""
    yield
    if redis.process is None:
        redis.start()


async def test_drafts_settings_and_questions_written_before_a_crash_survive_it(
    tg: FakeTelegram, bot, redis: RedisServer, sample_bytes
):
    drafter, asker = FakeUser(tg, 801), FakeUser(tg, 802)
    await drafter.send_command("/settings")
    await drafter.press(await drafter.next_message(), "🖼 2")
    await drafter.next_edit()
    await drafter.send_text("a tram in the snow")
    screen = await drafter.next_message()
    await asker.send_photo(sample_bytes("chelsea.png"))
    await asker.press(await asker.next_message(), "Photo + text")
    assert "Send a text" in (await asker.next_message()).text  # the bot waits for it (FSM state in Redis)

    redis.kill()  # a crash: only what append-only persistence wrote survives
    redis.start()

    await drafter.press(screen, "No style")
    album, _ = await results(drafter)
    assert "a tram in the snow" in album.text and len(album.photos) == 2, "the draft and the preference survived"
    await asker.send_text("a cat astronaut")
    draft = await asker.next_message()
    assert "photo" in draft.text and "a cat astronaut" in draft.text, "the question survived"
    await asker.press(draft, "No style")
    photo_album, _ = await results(asker)
    assert "a cat astronaut" in photo_album.text


async def test_a_message_while_redis_is_down_gets_an_answer_and_the_next_one_is_served(
    tg: FakeTelegram, bot, redis: RedisServer
):
    user = FakeUser(tg, 803)
    redis.kill()
    await user.send_text("a lighthouse")
    assert "storage isn't answering" in (await user.next_message(timeout=30)).text
    redis.start()
    await user.send_text("a lighthouse")
    assert "Pick a style" in (await user.next_message(timeout=30)).text


async def test_a_job_in_flight_across_a_quick_restart_is_delivered_and_its_buttons_work(
    tg: FakeTelegram, bot, redis: RedisServer
):
    user = FakeUser(tg, 804)
    await start_request(user, "a windmill [hold=3]", until="Drawing")
    redis.restart()  # down for much less than the clients' retry window (about 3 s)
    album, buttons = await results(user)
    assert "a windmill" in album.text
    await user.press(buttons, "🔄")
    again, _ = await results(user)
    assert "a windmill" in again.text and again.message_id != album.message_id
    assert len(sent_ok(tg, "sendMediaGroup", user.chat_id)) == 2


async def test_a_job_ending_while_redis_stays_down_is_delivered_with_a_note_instead_of_buttons(
    tg: FakeTelegram, bot, redis: RedisServer
):
    user = FakeUser(tg, 805)
    status = await start_request(user, "a clock tower [hold=2]", until="Drawing")
    redis.kill()  # for longer than the clients retry: the finished job cannot be stored
    album = await user.next_message(lambda m: m.method == "sendMediaGroup", timeout=60)
    note = await user.next_message(lambda m: m.method == "sendMessage", timeout=30)
    assert "a clock tower" in album.text and len(album.photos) == 4, "the pictures arrive anyway"
    assert "buttons" in note.text and note.buttons == [], "a note, and no buttons that could not work"
    assert note.message["reply_to_message"]["message_id"] == album.message_id
    await tg.wait_for("deleteMessage", lambda c: c.ok and c.params["message_id"] == status.message_id)

    redis.start()
    album, buttons = await draw(user, "a clock tower")
    assert "a clock tower" in album.text and "4K" in " ".join(buttons.labels)
    await user.press(buttons, "🔄")
    again, _ = await results(user)
    assert "a clock tower" in again.text, "the buttons of a job stored after the outage work"
