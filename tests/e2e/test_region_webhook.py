"""In webhook mode the Mini App is served by the webhook's own server, next to the webhook, with the same checks."""

from __future__ import annotations

import aiohttp
from e2e.webapp_kit import init_data
from fakegram import BotProcess, FakeTelegram
from fakegram import fixtures as fakegram_fixtures
from redisproc import free_port

fake_tg = fakegram_fixtures.fake_tg


async def test_the_mini_app_is_on_the_webhook_server(fake_tg: FakeTelegram, bot_env, tmp_path):
    tg, port = fake_tg, free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **bot_env,
        "WEBHOOK_URL": f"{base}/tg-hook",
        "WEBHOOK_HOST": "127.0.0.1",
        "WEBHOOK_PORT": str(port),
        "PUBLIC_URL": base,
    }
    proc = BotProcess(tg, env=env, log_path=tmp_path / "bot.log")
    await proc.start()
    try:
        await tg.wait_for("setWebhook", timeout=180)
        user = {"id": 1471, "first_name": "Alice", "language_code": "ru"}
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/app/region?job=nope&pic=1") as page:
                assert page.status == 200 and "region.js" in await page.text()
            async with http.get(f"{base}/app/static/region.js") as script:
                assert script.status == 200 and "MainButton" in await script.text()
            session = f"{base}/app/api/session?job=nope&pic=1"
            forged = {"Authorization": f"tma {init_data(tg.token, user, forge=True)}"}
            async with http.get(session, headers=forged) as refused:
                assert refused.status == 401
            good = {"Authorization": f"tma {init_data(tg.token, user)}"}
            async with http.get(session, headers=good) as gone:
                assert gone.status == 404
                assert (await gone.json())["message"].startswith("Эта картинка устарела")
        code, _ = await proc.terminate(timeout=60)
        assert code == 0
    finally:
        await proc.close()
        print(proc.logs()[-3000:])
