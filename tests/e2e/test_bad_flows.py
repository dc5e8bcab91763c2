"""Odd ways through the conversation: buttons of requests the bot no longer keeps, double taps, more requests than a
user's line holds, three photos for a two-photo mix, commands with garbage after them, buttons with made-up data.
Each gets a clear answer in the user's language (or, for made-up buttons, a quiet one), and the next normal request
still works.
"""

from __future__ import annotations

import copy
import itertools
import time

import pytest
from e2e.helpers import TRANSLATOR, a_prompt_still_works, assert_nothing_failed, engine_modes, needs, results, shown
from fakegram import BotMessage, FakeTelegram, FakeUser

pytestmark = pytest.mark.asyncio(loop_scope="module")

CAP = 3  # ENGINE_MAX_RUNNING_PER_USER + ENGINE_MAX_WAITING_PER_USER (1 + 2, the defaults)
_user_ids = itertools.count(7001)
_query_ids = itertools.count(5_000_000_000_000_000_001)
# Flood control (tests/e2e/test_access_and_limits.py) would stop the bursts of presses made here on purpose.
BOT_ENV = {"ENGINE_UPSCALE_LONG_SIDE": "512", "FLOOD_RATE_PER_MIN": "1000", "FLOOD_BURST": "200"}


def user_for(tg: FakeTelegram, locale: str = "en") -> FakeUser:
    return FakeUser(tg, next(_user_ids), first_name="Ира" if locale == "ru" else "Ann", language_code=locale)


async def style_screen(user: FakeUser, prompt: str) -> BotMessage:
    await user.send_text(prompt)
    return await user.next_message(lambda m: m.buttons != [])


async def press_data(user: FakeUser, data: str, message: dict | BotMessage | None = None) -> str:
    """Press a button whose callback_data is `data` (stale or made up) on `message` (default: the chat's last
    message); returns the query id, as FakeUser.press does."""
    if isinstance(message, BotMessage):
        message = message.message
    current = copy.deepcopy(message if message is not None else user.tg.chat_history(user.chat_id)[-1])
    query_id = str(next(_query_ids))
    user.tg.callback_queries[query_id] = {"created": time.monotonic(), "answer": None, "data": data}
    query = {"id": query_id, "from": user.user, "chat_instance": f"c{user.chat_id}", "message": current, "data": data}
    await user.tg.push_update("callback_query", query)
    return query_id


async def answered(tg: FakeTelegram, query_id: str) -> dict:
    call = await tg.wait_for("answerCallbackQuery", lambda c: c.params.get("callback_query_id") == query_id)
    assert call.ok
    return call.params


def albums_to(tg: FakeTelegram, user: FakeUser) -> int:
    return len(tg.calls_of("sendMediaGroup", user.chat_id))


# ---- buttons of requests the bot no longer keeps ---------------------------------------------------------------
# A record is gone when its TTL (JOB_TTL_S, a week by default) has passed, or after a restart with memory storage:
# the bot then sees a button whose job id it does not know. One such button of each kind:
STALE = {
    "style screen": "d:Zz0Zz0Zz:style:none:0:",
    "cancel": "j:Zz0Zz0Zz:cancel",
    "V1 under results": "r:Zz0Zz0Zz:vary:1:::0",
    "photo choice": "p:Zz0Zz0Zz:vary:0",
}


@pytest.mark.parametrize("locale", ["en", "ru"])
@pytest.mark.parametrize("kind", list(STALE))
async def test_a_button_of_an_expired_request_says_so(tg: FakeTelegram, bot, kind: str, locale: str):
    user = user_for(tg, locale)
    screen = await style_screen(user, "a quiet harbour")
    before = len(tg.calls)
    query = await press_data(user, STALE[kind], screen)
    answer = await answered(tg, query)
    assert answer["text"] == TRANSLATOR[locale].plain("expired") and answer.get("show_alert") is True
    assert all(call.index < before for call in tg.calls_of("sendMessage", user.chat_id)), "only the alert"
    await a_prompt_still_works(user, locale)


async def test_a_button_under_a_message_older_than_48_hours_still_works(tg: FakeTelegram, bot):
    """Telegram then sends the message as inaccessible (date 0, no content); the record itself is still kept."""
    user = user_for(tg)
    screen = await style_screen(user, "an old lighthouse")
    data = screen.buttons[0][0][1]
    query = await press_data(user, data, {"chat": user.chat, "message_id": screen.message_id, "date": 0})
    await answered(tg, query)
    album, _ = await results(user)
    assert len(album.photos) == 4


# ---- double taps -----------------------------------------------------------------------------------------------
async def test_a_double_tap_on_a_style_starts_one_job(tg: FakeTelegram, bot):
    user = user_for(tg, "ru")
    screen = await style_screen(user, "рыжий кот")
    first = await user.press(screen, screen.labels[0])
    second = await user.press(screen, screen.labels[0])
    await results(user)
    assert (await answered(tg, second))["text"] == TRANSLATOR["ru"].plain("already-started")
    assert (await answered(tg, first))["text"] == TRANSLATOR["ru"].plain("picked")
    await a_prompt_still_works(user, "ru", album=True)  # a second job would have come first (one line per user)
    assert albums_to(tg, user) == 2


async def test_a_double_tap_under_results_makes_one_album(tg: FakeTelegram, bot):
    user = user_for(tg)
    screen = await style_screen(user, "a paper boat")
    await user.press(screen, screen.labels[0])
    _, buttons = await results(user)
    first = await user.press(buttons, "V1")
    second = await user.press(buttons, "V1")
    variations, _ = await results(user)
    assert len(variations.photos) == 4
    assert (await answered(tg, second))["text"] == TRANSLATOR["en"].plain("already-started")
    assert (await answered(tg, first))["text"] == TRANSLATOR["en"].plain("picked")
    await a_prompt_still_works(user, album=True)
    assert albums_to(tg, user) == 3


async def test_a_double_tap_on_a_photo_choice_makes_one_album(tg: FakeTelegram, bot, sample_bytes):
    if not engine_modes() & {"reimagine", "vary"}:
        pytest.skip("engine mode(s) not available yet: reimagine or vary")
    user = user_for(tg)
    await user.send_photo(sample_bytes("rocket.jpg"))
    choices = await user.next_message()
    await user.press(choices, shown("en", "btn-photo-vary"))
    second = await user.press(choices, shown("en", "btn-photo-vary"))
    await results(user)
    assert (await answered(tg, second))["text"] == TRANSLATOR["en"].plain("already-started")
    await a_prompt_still_works(user, album=True)
    assert albums_to(tg, user) == 2


# ---- more than a user's line holds -----------------------------------------------------------------------------
async def test_pressing_over_the_per_user_cap_is_refused_at_once_and_the_rest_deliver(tg: FakeTelegram, bot):
    user = user_for(tg, "ru")
    screens = [await style_screen(user, f"маяк номер {n}") for n in range(CAP + 1)]
    for screen in screens:  # four taps in a row, faster than one job takes
        await user.press(screen, screen.labels[0])
    refusal = await user.next_message(lambda m: m.method == "sendMessage" and m.buttons == [])
    assert refusal.text == shown("ru", "error-user_queue_full")
    assert refusal.message["reply_to_message"]["message_id"] == screens[-1].message_id
    for _ in range(CAP):  # the earlier ones still deliver
        album, _ = await results(user)
        assert len(album.photos) == 4
    assert albums_to(tg, user) == CAP
    # The refused screen is still a draft: its style button works once the line has room.
    await user.press(screens[-1], screens[-1].labels[0])
    album, _ = await results(user)
    assert "маяк номер 3" in album.text
    await a_prompt_still_works(user, "ru")


# ---- three photos for a two-photo mix --------------------------------------------------------------------------
async def test_an_album_of_three_photos_mixes_the_first_two_and_says_so(tg: FakeTelegram, bot, sample_bytes):
    user = user_for(tg, "ru")
    await user.send_album([sample_bytes(name) for name in ("chelsea.png", "coffee.png", "rocket.jpg")])
    answers = [await user.next_message(), await user.next_message()]
    third = next(m for m in answers if not m.buttons)
    pair = next(m for m in answers if m.buttons)
    assert third.text == shown("ru", "photo-third")
    assert shown("ru", "btn-mix-only-last") in pair.labels
    if "mix" in engine_modes():
        assert pair.text == shown("ru", "mix-choices")
        await user.press(pair, "50/50")
        album, _ = await results(user)
        assert len(album.photos) == 4
    await a_prompt_still_works(user, "ru")


@needs("mix")
async def test_a_third_photo_after_a_pair_starts_over_and_the_pair_still_mixes(tg: FakeTelegram, bot, sample_bytes):
    user = user_for(tg)
    await user.send_photo(sample_bytes("chelsea.png"))
    assert (await user.next_message()).text == shown("en", "photo-choices")
    await user.send_photo(sample_bytes("coffee.png"))
    pair = await user.next_message()
    assert pair.text == shown("en", "mix-choices")
    await user.send_photo(sample_bytes("rocket.jpg"))
    single = await user.next_message()
    assert single.text == shown("en", "photo-choices"), "the third photo is a new start"
    await user.press(pair, "70/30")  # the pair's buttons still mix the first two
    album, _ = await results(user)
    assert "Mix 70/30" in album.text
    await a_prompt_still_works(user)


# ---- commands with garbage after them --------------------------------------------------------------------------
COMMANDS = {
    "/start garbage\x00\x01<b>": ("start-greeting", {"name": "Ann"}),
    "/settings foo bar": None,  # the settings screen (checked by its buttons)
    "/cancel 123": ("cancel-nothing", {}),
    "/help <b>": ("help", {"pictures": 4}),  # "4 pictures" / "4 картинки", in the user's language
    "/styles ../../etc/passwd": None,
    "/nosuchcommand <i>x</i>": ("unknown-command", {}),
    "/": ("unknown-command", {}),
}


@pytest.mark.parametrize("locale", ["en", "ru"])
@pytest.mark.parametrize("command", list(COMMANDS), ids=[c.split()[0] or c for c in COMMANDS])
async def test_a_command_with_garbage_arguments_gets_its_normal_answer(tg: FakeTelegram, bot, command, locale):
    user = user_for(tg, locale)
    if command == "/":
        await user.send_text(command)
    else:
        await user.send_command(command)
    answer = await user.next_message()
    expected = COMMANDS[command]
    if expected is None:
        assert answer.buttons, "a screen with its buttons"
    else:
        key, values = expected
        values = {**values, "name": user.user["first_name"]} if "name" in values else values
        if "pictures" in values:
            values = {"pictures": TRANSLATOR[locale].plain("n-pictures", count=values["pictures"])}
        assert answer.text == shown(locale, key, **values)
    await a_prompt_still_works(user, locale)


# ---- buttons with made-up data ---------------------------------------------------------------------------------
async def test_made_up_buttons_are_answered_quietly_and_nothing_breaks(tg: FakeTelegram, bot, sample_bytes):
    user = user_for(tg)
    screen = await style_screen(user, "a windmill")
    started = screen.buttons[0][0][1].split(":")[1]
    await user.press(screen, screen.labels[0])
    _, buttons = await results(user)
    done = buttons.buttons[0][0][1].split(":")[1]
    await user.send_photo(sample_bytes("chelsea.png"))
    choices = await user.next_message()
    photo = choices.buttons[0][0][1].split(":")[1]
    draft = (await style_screen(user, "a second windmill")).buttons[0][0][1].split(":")[1]
    another = user_for(tg)
    forged = {
        "zzz": "",
        "r": "",
        "r:abc": "",
        "d:": "",
        "x" * 64: "",
        "e:99": "",
        "e:abc": "",
        f"s:{user.id}:styles::::0:x": "",
        f"s:{user.id}:count::::99:0": "settings-saved",
        f"s:{another.id}:lang:ru:::0:0": "not-yours",
        f"d:{started}:style:none:0:": "already-started",
        f"d:{draft}:page::notanumber:": "",
        f"d:{draft}:aspect::0:99|1": "",
        f"d:{draft}:explode::0:": "",
        f"r:{done}:vary:99:::0": "expired",
        f"r:{done}:zoom:9:::0": "expired",
        f"r:{done}:vary:abc:::0": "expired",
        f"r:{done}:explode:1:::0": "expired",
        f"p:{photo}:explode:0": "expired",
        f"p:{done}:only:0": "expired",
        f"j:{done}:cancel": "cancel-nothing",
    }
    for data, key in forged.items():
        query = await press_data(user, data, choices)
        answer = await answered(tg, query)
        if key:
            assert answer.get("text") == TRANSLATOR["en"].plain(key), data
    generic = TRANSLATOR["en"]("error-internal")
    assert not [c for c in tg.calls_of("sendMessage", user.chat_id) if c.params.get("text") == generic]
    assert "Traceback" not in bot.logs()
    await a_prompt_still_works(user, album=True)


async def test_nothing_failed_inside_the_bot(tg: FakeTelegram, bot):
    """Run last: no handler crashed and no reply was refused by Telegram ("not modified" is harmless)."""
    assert_nothing_failed(tg, bot)
