"""A server without a prompt LLM (ENGINE_LLM=none): "✨ improve prompt" is offered nowhere, and a user's "on", stored
while the server had one, is kept but not shown (and not asked of the engine: tests/bot/test_bot_parts.py).
With the tiny kit's LLM (the other modules) the toggle is there: tests/e2e/test_settings_and_locale.py."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
from e2e.helpers import results
from fakegram import FakeTelegram, FakeUser
from redisproc import RedisServer

from bot.storage import Prefs, RedisStore

pytestmark = pytest.mark.asyncio(loop_scope="module")
BOT_ENV = {"ENGINE_LLM": "none"}
BOT_REDIS = True


@contextlib.asynccontextmanager
async def bot_storage(redis: RedisServer) -> AsyncIterator[RedisStore]:
    """The bot's own storage, as the bot reads and writes it."""
    store = RedisStore.from_url(redis.url, ttl_s=3600)
    try:
        yield store
    finally:
        await store.close()


async def test_improve_prompt_is_not_offered_and_a_stored_on_changes_nothing(tg: FakeTelegram, bot, redis: RedisServer):
    user = FakeUser(tg, 1101)
    async with bot_storage(redis) as store:
        await store.save_prefs(user.id, Prefs(beautify=True, count=2))

    await user.send_command("/settings")
    settings = await user.next_message()
    assert "Pictures per request: 2" in settings.text, "the stored settings are this user's"
    assert "Improve" not in settings.text and not any("Improve" in label for label in settings.labels)

    await user.send_text("a quiet harbour")
    screen = await user.next_message()
    assert "Pick a style" in screen.text and screen.labels[-1] == "✖ Close"
    assert not any("Improve" in label for label in screen.labels)
    await user.press(screen, "No style")
    album, _ = await results(user)
    assert "a quiet harbour" in album.text and len(album.photos) == 2

    async with bot_storage(redis) as store:
        assert (await store.get_prefs(user.id)).beautify, "kept for when the server has an LLM again"
