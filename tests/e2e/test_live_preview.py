"""While drawing, the status message shows the picture forming (a cheap latent preview), within the status pacing;
a user can switch it off in /settings. Longer drawings here (12 steps of at least 0.25 s each, the "[step=S]" of
faulty_bot.py) so that there is time to see it form whatever the machine's speed."""

from __future__ import annotations

import time

import pytest
from e2e.helpers import FAULTY_BOT, decoded, results
from fakegram import Call, FakeTelegram, FakeUser

from bot.pacing import PROGRESS_INTERVAL_S

pytestmark = pytest.mark.asyncio(loop_scope="module")
BOT_ARGS = FAULTY_BOT
BOT_ENV = {"ENGINE_QUALITY_STEPS": "12"}


def previews_to(tg: FakeTelegram, user: FakeUser, after: int) -> list:
    """The status photos (a preview with the Cancel button) and their swaps, sent to the user since `after`."""
    return [
        call
        for call in tg.calls[after:]
        if call.ok
        and call.chat_id == user.chat_id
        and (call.method == "editMessageMedia" or (call.method == "sendPhoto" and "Cancel" in str(call.params)))
    ]


def deletes(call: Call, user: FakeUser, message_id: int) -> bool:
    """A deleteMessage call for that message of the user's chat (other chats have messages of the same id)."""
    return call.chat_id == user.chat_id and call.params.get("message_id") == message_id


async def watch_it_form(tg: FakeTelegram, user: FakeUser, prompt: str) -> None:
    """The user writes `prompt` and taps No style: the text status becomes a photo of the picture forming, swapped
    a few times, paced like every progress edit (at most one a PROGRESS_INTERVAL_S: a count that depends on how fast
    this machine draws, not on the steps), and it makes way for the album."""
    start = user.mark()
    await user.send_text(prompt)
    screen = await user.next_message()
    await user.press(screen, "No style")
    pressed = time.monotonic()
    preview = await user.next_photo(lambda m: m.labels == ["✖ Cancel"], timeout=60)
    assert "Drawing" in (preview.text or "")
    assert decoded(preview.photos[0]).size[0] >= 128
    await tg.wait_for("deleteMessage", lambda c: deletes(c, user, screen.message_id))
    assert tg.message(user.chat_id, screen.message_id) is None, "the text status made way for the photo"
    album, _ = await results(user)
    drawn_s = time.monotonic() - pressed
    assert len(album.photos) == 4 and prompt in album.text
    await tg.wait_for("deleteMessage", lambda c: deletes(c, user, preview.message_id))
    assert tg.message(user.chat_id, preview.message_id) is None, "the preview goes once the pictures are there"
    shown = len(previews_to(tg, user, start))
    assert 1 <= shown <= 1 + drawn_s / PROGRESS_INTERVAL_S, f"paced: {shown} in {drawn_s:.1f} s"


async def test_the_status_shows_the_picture_forming_then_makes_way_for_the_album(tg: FakeTelegram, bot):
    await watch_it_form(tg, FakeUser(tg, 1601), "a lighthouse at dusk [step=0.25]")


async def test_the_preview_can_be_switched_off_in_settings(tg: FakeTelegram, bot):
    user = FakeUser(tg, 1602, language_code="ru")
    await user.send_command("/settings")
    settings = await user.next_message()
    assert "🖼 Показывать, как рисуется: да" in settings.labels
    await user.press(settings, "Показывать, как рисуется")
    switched = await user.next_edit()
    assert "🖼 Показывать, как рисуется: нет" in switched.labels
    start = user.mark()
    await user.send_text("маяк в сумерках")
    screen = await user.next_message()
    await user.press(screen, "Без стиля")
    await results(user, timeout=60)
    assert previews_to(tg, user, start) == []
