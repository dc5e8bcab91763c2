"""Soak: many requests through one real bot process, to see that nothing grows or leaks over a long day.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/soak.py [--users 20] [--requests 50] [--json bench/soak.json]

20 users × 50 requests (1,000) through the fake Bot API (tests/fakegram) on the offline tiny model, Redis as in
production, each user with one request in flight (the next prompt when the last one's picture arrived), one
picture and one denoising step each: the load is the bot's own (updates, records, deliveries), not the drawing.
The bot process is measured from outside after the warm-up (the first 20% of requests) and at the end:
resident memory, open file descriptors, threads; /stats says how many deliveries are still in flight (tasks).
Every request must end with its picture or a message.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from e2e.helpers import fast_env  # noqa: E402
from fakegram import BotProcess, FakeTelegram, FakeUser  # noqa: E402
from fakegram.watch import Watch, edits, replies_to  # noqa: E402
from redisproc import RedisServer  # noqa: E402

ADMIN = 4242
FAILURES = ("went wrong", "Too many", "queue is full", "already have pictures", "restarting", "too old")
CACHE = Path(os.environ.get("EASEL_TEST_CACHE", REPO / ".cache" / "test"))


def process_figures(pid: int) -> dict[str, int]:
    """Resident memory (MB), open file descriptors and threads of a process, read from /proc."""
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return {
        "rss_mb": int(status["VmRSS"].split()[0]) // 1024,
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "threads": int(status["Threads"]),
    }


async def one_user(tg: FakeTelegram, watch: Watch, user_id: int, requests: int, done: list[int]) -> list[str]:
    """A user's requests one after another; returns what went wrong (nothing, if all went well)."""
    user = FakeUser(tg, user_id, first_name=f"Soak{user_id}")
    await user.send_command("/settings")
    screen = await watch.wait(user_id, lambda call: "Settings" in call.params.get("text", ""), "/settings")
    await user.press(screen.result["message_id"], "🖼 1")
    await watch.wait(user_id, edits(screen.result["message_id"], "Pictures per request: 1"), "1 picture set")
    problems = []
    for n in range(1, requests + 1):
        prompt = f"soak {user_id} #{n}: a small red house"
        asked = await user.send_text(prompt)
        style_screen = await watch.wait(user_id, replies_to(asked["message_id"]), f"the style screen of {prompt!r}")
        await user.press(style_screen.result["message_id"], "No style")

        def answered(call, prompt=prompt) -> bool:
            shown = call.params.get("caption") or call.params.get("text") or ""
            return (call.method == "sendPhoto" and prompt in shown) or any(word in shown for word in FAILURES)

        end = await watch.wait(user_id, answered, f"the picture of {prompt!r}", timeout=300)
        if end.method != "sendPhoto":
            problems.append(f"{prompt}: {end.params.get('text')}")
        done.append(1)
    return problems


async def stats_of(tg: FakeTelegram, watch: Watch) -> str:
    admin = FakeUser(tg, ADMIN, first_name="Admin")
    await admin.send_command("/stats")
    return (await watch.wait(ADMIN, lambda call: "Stats" in call.params.get("text", ""), "/stats")).params["text"]


FIRST_USER = 7000


async def soak(users: int, requests: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        redis = RedisServer(Path(folder) / "redis").start()
        try:
            async with FakeTelegram() as tg:
                env = fast_env(
                    CACHE,
                    REDIS_URL=redis.url,
                    ENGINE_QUALITY_STEPS="1",
                    ADMIN_USER_IDS=str(ADMIN),  # with an admin the bot is closed: the soak's users are let in
                    ALLOWED_USER_IDS=",".join(str(FIRST_USER + u) for u in range(users)),
                    FLOOD_RATE_PER_MIN="600",
                    LOG_LEVEL="WARNING",
                )
                async with BotProcess(tg, env=env, log_path=Path(folder) / "bot.log") as bot:
                    await bot.wait_ready(timeout=180)
                    return await drive(tg, bot, users, requests)
        finally:
            redis.stop()


async def drive(tg: FakeTelegram, bot: BotProcess, users: int, requests: int) -> dict:
    watch = Watch(tg)
    watching = asyncio.create_task(watch.run())
    done: list[int] = []
    total = users * requests
    warm: dict[str, int] = {}
    samples = []

    async def sample() -> None:
        while len(done) < total:
            await asyncio.sleep(2)
            figures = {"requests": len(done), "s": round(time.monotonic() - started, 1), **process_figures(bot.pid)}
            samples.append(figures)
            if not warm and len(done) >= total // 5:
                warm.update(figures)

    started = time.monotonic()
    sampler = asyncio.create_task(sample())
    try:
        problems = await asyncio.gather(*(one_user(tg, watch, FIRST_USER + u, requests, done) for u in range(users)))
        elapsed = time.monotonic() - started
        await asyncio.sleep(3)  # the last deliveries' tasks end, status messages are deleted
        end = process_figures(bot.pid)
        stats = await stats_of(tg, watch)
    finally:
        sampler.cancel()
        watching.cancel()
    return {
        "command": " ".join(["python bench/soak.py", *sys.argv[1:]]),
        "users": users,
        "requests": total,
        "seconds": round(elapsed, 1),
        "requests_per_s": round(total / elapsed, 2),
        "after_warmup": warm,
        "end": end,
        "rss_growth": round(end["rss_mb"] / warm["rss_mb"] - 1, 3) if warm else None,
        "problems": [p for ps in problems for p in ps],
        "stats": stats,
        "samples": samples,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--requests", type=int, default=50, help="per user")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    figures = asyncio.run(soak(args.users, args.requests))
    summary = {k: v for k, v in figures.items() if k != "samples"}
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")
    leaks = figures["end"]["fds"] > figures["after_warmup"]["fds"] + 5 or "0 being delivered" not in figures["stats"]
    ok = not figures["problems"] and (figures["rss_growth"] or 0) < 0.10 and not leaks
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
