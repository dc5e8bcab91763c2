"""While drawing, the status message shows the picture forming (a cheap latent preview), within the status pacing;
a user can switch it off in /settings. Longer drawings here (12 steps of at least 0.25 s each, the "[step=S]" of
faulty_bot.py) so that there is time to see it form whatever the machine's speed."""

from __future__ import annotations

import itertools

import pytest
from e2e.helpers import FAULTY_BOT, decoded, results
from fakegram import FakeTelegram, FakeUser

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


async def test_the_status_shows_the_picture_forming_then_makes_way_for_the_album(tg: FakeTelegram, bot):
    user = FakeUser(tg, 1601)
    start = user.mark()
    await user.send_text("a lighthouse at dusk [step=0.25]")
    screen = await user.next_message()
    await user.press(screen, "No style")
    preview = await user.next_photo(lambda m: m.labels == ["✖ Cancel"], timeout=60)
    assert "Drawing" in (preview.text or "")
    assert decoded(preview.photos[0]).size[0] >= 128
    await tg.wait_for("deleteMessage", lambda c: c.params.get("message_id") == screen.message_id)
    assert tg.message(user.chat_id, screen.message_id) is None, "the text status made way for the photo"
    album, _ = await results(user)
    assert len(album.photos) == 4
    await tg.wait_for("deleteMessage", lambda c: c.params.get("message_id") == preview.message_id)
    assert tg.message(user.chat_id, preview.message_id) is None, "the preview goes once the pictures are there"
    shown = previews_to(tg, user, start)
    assert 2 <= len(shown) < 12, "a few times, not every step"
    gaps = [later.time - earlier.time for earlier, later in itertools.pairwise(shown)]
    assert min(gaps) >= 0.9, "at most one preview a second (PROGRESS_INTERVAL_S)"


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
