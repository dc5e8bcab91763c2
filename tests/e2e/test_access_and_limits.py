"""A corporate bot: strangers are refused politely (every kind of update, no GPU time), administrators see
/stats and change the allow-lists while it runs (kept in Redis across a restart), flood control answers a
burst once, and the daily quota shows in /settings and refuses the request over it.
"""

from __future__ import annotations

import asyncio

import pytest
from e2e.helpers import PLAIN_BOT, assert_token_absent, draw
from fakegram import BotProcess, FakeTelegram, FakeUser
from redisproc import RedisServer

pytestmark = pytest.mark.asyncio(loop_scope="module")
ADMIN = 690
ALLOWED_GROUP = -1009000
OTHER_GROUP = -1009001
BURST = 10  # the quota test sends 8 updates within a second when jobs are quick
DENIED = "only for the company's employees"
BOT_REDIS = True
BOT_ENV = {
    "ALLOWED_USER_IDS": "601,602,603,604,605",
    "ALLOWED_CHAT_IDS": str(ALLOWED_GROUP),
    "ADMIN_USER_IDS": str(ADMIN),
    "FLOOD_RATE_PER_MIN": "60",
    "FLOOD_BURST": str(BURST),
    "DAILY_QUOTA": "2",
}


async def reply_to(user: FakeUser, timeout: float = 30) -> str:  # noqa: ASYNC109
    return (await user.next_message(timeout=timeout)).text or ""


async def answered(tg: FakeTelegram, user: FakeUser, query: str) -> dict:
    await tg.wait_for("answerCallbackQuery", lambda c: c.params["callback_query_id"] == query)
    return user.answer_of(query)


def forged_button(tg: FakeTelegram, user: FakeUser) -> dict:
    """A bot message with a style button in the user's chat, as if they had got it somehow."""
    keyboard = {"inline_keyboard": [[{"text": "Anime", "callback_data": "d:abcdefgh:style:anime:0:"}]]}
    return tg.store_message(user.chat, tg.me, {"text": "Pick a style", "reply_markup": keyboard})


async def admin_says(tg: FakeTelegram, command: str) -> str:
    admin = FakeUser(tg, ADMIN, first_name="Admin")
    admin.mark()
    await admin.send_command(command)
    return await reply_to(admin)


async def test_a_stranger_is_refused_politely_for_every_kind_of_update(tg: FakeTelegram, bot, sample_bytes):
    stranger = FakeUser(tg, 666, first_name="Mallory")
    await stranger.send_text("draw me a castle")
    assert DENIED in await reply_to(stranger)
    await stranger.send_command("/start")
    assert DENIED in await reply_to(stranger)
    await stranger.send_photo(sample_bytes("chelsea.png"), caption="vary this")
    assert DENIED in await reply_to(stranger)
    query = await stranger.press(forged_button(tg, stranger), "Anime")
    refusal = await answered(tg, stranger, query)
    assert DENIED in refusal["text"] and refusal["show_alert"]

    russian = FakeUser(tg, 667, first_name="Мэллори", language_code="ru")
    await russian.send_text("нарисуй замок")
    assert "только для сотрудников" in await reply_to(russian)

    kinds = {c.method for c in tg.calls if c.chat_id in (666, 667)}
    assert kinds == {"sendMessage"}, f"refusals only, no work for strangers: {kinds}"
    stats = await admin_says(tg, "/stats")
    per_user = next(line for line in stats.splitlines() if line.startswith("Done per user"))
    assert "666" not in per_user and "667" not in per_user, f"no GPU time for strangers: {per_user}"


async def test_in_groups_an_allowed_group_admits_everyone_and_others_hear_a_refusal_only_when_asked(
    tg: FakeTelegram, bot
):
    allowed_group, other_group = tg.group(ALLOWED_GROUP, "Design"), tg.group(OTHER_GROUP, "Friends")
    guest = FakeUser(tg, 668, first_name="Guest", chat=allowed_group)
    await guest.send_text("a team photo in watercolor", mention=True)
    assert "Pick a style" in await reply_to(guest)

    employee = FakeUser(tg, 601, first_name="Ann", chat=other_group)
    await employee.send_text("a birthday cake", mention=True)
    assert "Pick a style" in await reply_to(employee), "an allowed user is served in any group"

    stranger = FakeUser(tg, 669, first_name="Bob", chat=other_group)
    await stranger.send_text("who wants pizza?")  # not for the bot: no answer at all
    await stranger.send_text("a pizza in space", mention=True)
    refusal = await stranger.next_message()
    assert DENIED in refusal.text
    assert len([c for c in tg.calls_of("sendMessage", OTHER_GROUP) if DENIED in c.params["text"]]) == 1


async def test_a_strangers_burst_gets_few_answers(tg: FakeTelegram, bot):
    stranger = FakeUser(tg, 670)
    for n in range(3 * BURST):
        await stranger.send_text(f"spam {n}")
    await stranger.next_message()
    await asyncio.sleep(1.5)
    refusals = tg.calls_of("sendMessage", stranger.chat_id)
    refilled = refusals[-1].time - refusals[0].time  # FLOOD_RATE_PER_MIN=60: a token a second
    assert BURST <= len(refusals) <= BURST + 1 + refilled, [c.time for c in refusals]


async def test_flood_control_warns_once_then_keeps_quiet_until_the_burst_is_over(tg: FakeTelegram, bot):
    """FLOOD_RATE_PER_MIN=60 here: a token comes back every second while the burst is being handled."""
    user = FakeUser(tg, 602)
    for _ in range(2 * BURST):
        await user.send_command("/help")
    await user.next_message(lambda m: "Too many messages" in (m.text or ""), timeout=30)
    await asyncio.sleep(0.5)
    sent = tg.calls_of("sendMessage", user.chat_id)
    helps = [c for c in sent if "How it works" in c.params["text"]]
    assert len([c for c in sent if "Too many messages" in c.params["text"]]) == 1
    assert BURST <= len(helps) <= BURST + 1 + (helps[-1].time - helps[0].time), len(helps)

    await asyncio.sleep(1.5)
    user.mark()
    await user.send_command("/help")
    assert "How it works" in await reply_to(user)

    presser = FakeUser(tg, 604)
    await presser.send_command("/settings")
    settings = await presser.next_message()
    start = len(tg.calls)
    queries = [await presser.press(settings, "🖼 2") for _ in range(2 * BURST)]
    answers = [await answered(tg, presser, query) for query in queries]
    calls = [c for c in tg.calls_of("answerCallbackQuery") if c.index >= start]
    alerts = [a for a in answers if a.get("show_alert")]
    saved = [a for a in answers if a.get("text") == "Saved"]
    assert len(alerts) == 1 and "Too many messages" in alerts[0]["text"], answers
    assert BURST - 1 <= len(saved) <= BURST + (calls[-1].time - calls[0].time), answers  # /settings took one
    assert len(saved) + len(alerts) < len(answers), "the rest of the burst got quiet answers"


async def test_the_daily_quota_shows_in_settings_and_refuses_the_request_over_it(tg: FakeTelegram, bot, redis):
    user = FakeUser(tg, 603)
    await user.send_command("/settings")
    assert "Left today: 2 of 2 picture requests (it starts again at 00:00 UTC+3)" in await reply_to(user)
    for prompt in ("a first kite", "a second kite"):
        album, _ = await draw(user, prompt)
        assert prompt in album.text
    await user.send_text("a third kite")
    screen = await user.next_message()
    await user.press(screen, "No style")
    assert "That's all for today" in await reply_to(user)
    assert "No style" in " ".join(user.buttons(screen)), "the style screen stays for tomorrow"
    await user.send_command("/settings")
    assert "Left today: 0 of 2" in await reply_to(user)

    client = redis_client(redis)
    try:
        keys = await client.keys("easel:quota:*:603")
        assert len(keys) == 1 and int(await client.get(keys[0])) == 2
        assert 0 < await client.ttl(keys[0]) <= 2 * 24 * 3600
    finally:
        await client.aclose()
    assert "Left today" not in await admin_says(tg, "/settings"), "administrators have no quota"


async def test_the_quota_speaks_russian_plurals_and_moscow_midnight(tg: FakeTelegram, bot):
    user = FakeUser(tg, 605, language_code="ru")
    await user.send_command("/settings")
    assert "Осталось на сегодня: 2 из 2 запросов (счёт начнётся заново в 00:00, UTC+3)" in await reply_to(user)


async def test_admins_see_stats_and_others_do_not(tg: FakeTelegram, bot):
    stats = await admin_says(tg, "/stats")
    assert "Stats" in stats and "Queue: 0 waiting, 0 running" in stats
    assert "Jobs since start: 2 done" in stats and "603: 2" in stats
    assert "Device: CPU" in stats and "MB" in stats
    assert f"Limits: 60 messages a minute per user, at most {BURST} at once; 2 picture requests per user a day" in stats
    assert "Access: 6 ids configured" in stats
    employee = FakeUser(tg, 601)
    await employee.send_command("/stats")
    assert "I don't know this command" in await reply_to(employee)
    await employee.send_command("/allow 666")
    assert "I don't know this command" in await reply_to(employee)


async def test_admins_allow_and_deny_users_and_groups_at_run_time(tg: FakeTelegram, bot, redis):
    newcomer = FakeUser(tg, 650, first_name="New")
    await newcomer.send_text("a welcome card")
    assert DENIED in await reply_to(newcomer)

    assert "650 may use the bot now" in await admin_says(tg, "/allow 650")
    await newcomer.send_text("a welcome card")
    screen = await newcomer.next_message()
    assert "Pick a style" in screen.text

    assert "650 may no longer use the bot" in await admin_says(tg, "/deny 650")
    query = await newcomer.press(screen, "No style")
    assert DENIED in (await answered(tg, newcomer, query))["text"], "buttons are refused too"

    employee = FakeUser(tg, 601)
    assert "601 may no longer" in await admin_says(tg, "/deny 601")
    await employee.send_command("/help")
    assert DENIED in await reply_to(employee)
    assert "601 may use the bot now" in await admin_says(tg, "/allow 601")
    await employee.send_command("/help")
    assert "How it works" in await reply_to(employee)

    assert "is an administrator" in await admin_says(tg, "/deny 690")
    assert f"{OTHER_GROUP} may use" in await admin_says(tg, f"/allow {OTHER_GROUP}")
    guest = FakeUser(tg, 671, chat=tg.group(OTHER_GROUP, "Friends"))
    await guest.send_text("a group portrait", mention=True)
    assert "Pick a style" in await reply_to(guest)
    assert "651 may use" in await admin_says(tg, "/allow 651")

    lists = await admin_says(tg, "/allow")
    assert "/allow id" in lists and "Denied at run time: 650" in lists and f"{OTHER_GROUP}, 601, 651" in lists

    client = redis_client(redis)
    try:
        assert await client.smembers("easel:access:deny") == {b"650"}
        assert await client.smembers("easel:access:allow") == {b"601", b"651", str(OTHER_GROUP).encode()}
    finally:
        await client.aclose()


async def test_run_time_access_changes_survive_a_restart(tg: FakeTelegram, bot, bot_env, tmp_path):
    """Last in this module: the module's bot stops; a new one on the same Redis keeps the changes."""
    code, _ = await bot.terminate(timeout=60)
    assert code == 0
    again = BotProcess(tg, env=bot_env, args=PLAIN_BOT, log_path=tmp_path / "bot-again.log")
    await again.start()
    try:
        await again.wait_ready(timeout=180)
        allowed, denied = FakeUser(tg, 651), FakeUser(tg, 650)
        await allowed.send_text("a fresh start")
        assert "Pick a style" in await reply_to(allowed)
        await denied.send_text("let me in")
        assert DENIED in await reply_to(denied)
        code, _ = await again.terminate(timeout=60)
        assert code == 0
        assert_token_absent(again.logs(), tg.token)
    finally:
        await again.close()


def redis_client(redis: RedisServer):
    from redis.asyncio import Redis

    return Redis.from_url(redis.url)
