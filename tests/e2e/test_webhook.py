"""Webhook mode: the bot registers its URL with a secret token and serves only requests that carry it."""

from __future__ import annotations

import aiohttp
from fakegram import BotProcess, FakeTelegram, FakeUser
from fakegram import fixtures as fakegram_fixtures
from redisproc import free_port

fake_tg = fakegram_fixtures.fake_tg

SECRET = "webhook-secret-for-tests"


async def test_webhook_verifies_the_secret_token_and_answers(fake_tg: FakeTelegram, bot_env, tmp_path):
    tg, port = fake_tg, free_port()
    url = f"http://127.0.0.1:{port}/tg-hook"
    env = {
        **bot_env,
        "WEBHOOK_URL": url,
        "WEBHOOK_HOST": "127.0.0.1",
        "WEBHOOK_PORT": str(port),
        "WEBHOOK_SECRET": SECRET,
    }
    proc = BotProcess(tg, env=env, log_path=tmp_path / "bot.log")
    await proc.start()
    try:
        registered = await tg.wait_for("setWebhook", timeout=180)
        assert registered.params["url"] == url and registered.params["secret_token"] == SECRET
        assert "message" in registered.params["allowed_updates"]

        user = FakeUser(tg, 601)
        message = tg.store_message(
            user.chat, user.user, {"text": "/start", "entities": [{"type": "bot_command", "offset": 0, "length": 6}]}
        )
        update = {"update_id": 1, "message": message}
        async with aiohttp.ClientSession() as http:
            async with http.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}) as bad:
                assert bad.status == 401
            async with http.post(url, json=update) as missing:
                assert missing.status == 401
            async with http.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as ok:
                assert ok.status == 200
        greeting = await user.next_message()
        assert "Hi, Alice" in greeting.text
        assert len(user.sent_to_me()) == 1, "only the request with the right secret was served"
        assert not tg.calls_of("getUpdates"), "no polling in webhook mode"
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/readyz") as ready:
            assert ready.status == 200, "health and metrics are on the webhook's own server"

        code, _ = await proc.terminate(timeout=60)
        assert code == 0
    finally:
        await proc.close()
        print(proc.logs()[-5000:])
