"""The real bot with ENGINE_BACKEND=redis (no models of its own) on the fleet's workers, through FakeTelegram: the
main flows of tests/e2e pass unchanged, a stranger still gets nothing, 4K never reaches the worker without an
upscaler, the status shows the picture forming as on one machine, a worker killed mid-job still gives its user
exactly one album, and so does a Redis restart under running and waiting jobs.
"""

from __future__ import annotations

import asyncio

import pytest
from e2e.helpers import assert_nothing_failed, draw, results
from e2e.reliability import sent_ok, start_request

# The flows as the single-machine bot passes them, run here against the fleet (same users, same checks).
from e2e.test_access_and_limits import (  # noqa: F401
    ADMIN,
    test_a_stranger_is_refused_politely_for_every_kind_of_update,
)
from e2e.test_cancel_and_shutdown import test_cancel_while_waiting_and_while_running  # noqa: F401
from e2e.test_generate_flow import (  # noqa: F401
    test_text_becomes_an_album_of_four_pictures_with_buttons,
    test_two_users_at_once_each_get_their_own_pictures,
    test_variations_subtle_and_strong,
)
from e2e.test_live_preview import watch_it_form
from e2e.test_photo_flows import test_two_photo_album_mixes_and_the_balance_can_change  # noqa: F401
from fakegram import FakeTelegram, FakeUser
from fleetproc import fleet_events, jobs_of

pytestmark = pytest.mark.asyncio(loop_scope="module")
USERS = (102, 106, 110, 111, 205, 501, 801, 802, 803, 804, 805)
BOT_ENV = {
    "ALLOWED_USER_IDS": ",".join(map(str, USERS)),
    "ADMIN_USER_IDS": str(ADMIN),
    "FLOOD_RATE_PER_MIN": "1000",
    "FLOOD_BURST": "200",
}


async def test_4k_goes_to_a_worker_with_an_upscaler_and_arrives_as_a_file(tg: FakeTelegram, bot, fleet_redis):
    user = FakeUser(tg, 801)
    _, buttons = await draw(user, "a mountain lake")
    await user.press(buttons, "4K 2")
    preview = await user.next_photo(timeout=120)
    document = await user.next_document(timeout=60)
    assert "4K" in preview.text and document.document_name.endswith((".png", ".jpg", ".webp"))
    upscaled = [job for job in jobs_of(fleet_redis.url, 801) if "mode:upscale" in job["need"]]
    assert len(upscaled) == 1
    runners = {
        e["worker"] for e in fleet_events(fleet_redis.url) if e["job"] == upscaled[0]["id"] and e["kind"] == "running"
    }
    assert runners and "w3" not in runners, "w3 has no upscaler"


async def test_a_worker_killed_mid_job_still_gives_exactly_one_album(tg: FakeTelegram, bot, fleet, fleet_redis):
    user = FakeUser(tg, 802)
    status = await start_request(user, "a fragile vase [hold=2]", until="Drawing")
    running = [job for job in jobs_of(fleet_redis.url, 802) if job["state"] == "running"]
    assert len(running) == 1
    fleet.kill(running[0]["worker"])
    album, _ = await results(user, timeout=60)
    assert len(album.photos) == 4 and "a fragile vase" in album.text
    await asyncio.sleep(1)
    albums = [c for c in tg.calls_of("sendMediaGroup", user.chat_id) if c.ok]
    assert len(albums) == 1, "exactly one album"
    assert tg.message(user.chat_id, status.message_id) is None, "the status message made way for the album"
    fleet.start(running[0]["worker"])  # again, in the background: the next module finds three workers


async def test_the_status_shows_the_picture_forming_as_the_worker_draws_it(tg: FakeTelegram, bot):
    """The worker's engine makes the previews; the bot shows them as it would its own (12 steps of at least 0.25 s:
    time to see it on any machine; 24 plain steps were once drawn before the first preview)."""
    await watch_it_form(tg, FakeUser(tg, 803), "a lighthouse at dusk [steps=12] [step=0.25]")


async def test_a_redis_restart_under_running_and_waiting_jobs_still_gives_one_album_each(
    tg: FakeTelegram, bot, fleet_redis
):
    """The bot's storage and the fleet share the Redis; it is killed (SIGKILL) and comes back from its append-only
    file while one user's first request draws and their second waits behind it (one running per user)."""
    user, other = FakeUser(tg, 804), FakeUser(tg, 805)
    await start_request(user, "a ship in a bottle [hold=3]", until="Drawing")
    await start_request(user, "a second ship")
    await start_request(other, "a lantern [hold=2]", until="Drawing")
    assert [job["state"] for job in jobs_of(fleet_redis.url, 804)].count("waiting") == 1
    fleet_redis.restart()
    albums = [await results(user, timeout=90), await results(user, timeout=90), await results(other, timeout=90)]
    texts = [album.text for album, _ in albums]
    assert "a ship in a bottle" in texts[0] and "a second ship" in texts[1] and "a lantern" in texts[2]
    await asyncio.sleep(1)
    assert [len(sent_ok(tg, "sendMediaGroup", u.chat_id)) for u in (user, other)] == [2, 1], "one album per request"
    _, buttons = albums[1]
    await user.press(buttons, "🔄")
    again, _ = await results(user)
    assert "a second ship" in again.text, "the bot and the fleet work on after the restart"


async def test_nothing_failed_inside_the_bot(tg: FakeTelegram, bot):
    assert_nothing_failed(tg, bot)
