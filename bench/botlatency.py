"""Part 4: what the bot adds on top of the engine, measured end to end on loopback.

The real bot (`python -m bot`, tiny offline models, CPU, 1 denoising step) polls a FakeTelegram
(tests/fakegram) served by this process. Per trial a new user writes a prompt and taps "No style":
- first answer: the update queued at the fake server -> the bot's style screen arriving there (no engine
  work at all: pure bot overhead);
- album: the tap queued -> the album (sendMediaGroup with four uploaded pictures) arriving there, minus the
  time that very job spent in the bot's engine (submit -> result), which the engine logs per job
  ("job ID done: ..., S s in engine"). Subtracting each job's own engine time, not a separate median,
  keeps the CPU's jitter out of the bot's figure.
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]  # bench/ sits in the repository root
PROMPT = "a red fox in a snowy forest at dawn"
ENGINE_LINE = re.compile(r"engine\.service: job \S+ done: .*?([\d.]+) s in engine")


def unavailable() -> str:
    """Why part 4 cannot run from this checkout (empty when it can)."""
    if not (REPO / "bot" / "__main__.py").is_file():
        return "no bot/__main__.py yet (`python -m bot` is needed)"
    if not (REPO / "tests" / "fakegram" / "__init__.py").is_file():
        return "no tests/fakegram (the fake Bot API server)"
    return ""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = q / 100 * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


async def measure(cache: Path, trials: int, steps: int, log) -> dict:
    reason = unavailable()
    if reason:
        return {"skipped": reason}
    if str(REPO / "tests") not in sys.path:
        sys.path.insert(0, str(REPO / "tests"))
    from fakegram import BotProcess, FakeTelegram, FakeUser

    env = {
        "ENGINE_MODEL": "tiny",
        "ENGINE_DEVICE": "cpu",
        "ENGINE_CACHE_DIR": str(cache),
        "ENGINE_QUALITY_STEPS": str(steps),
        "ENGINE_FAST_STEPS": str(steps),
        "ENGINE_WARMUP": "true",
        "DEFAULT_LOCALE": "en",
        "LOG_LEVEL": "INFO",  # the engine's per-job line carries its time
    }
    log_path = Path(tempfile.mkdtemp(prefix="easel-bench-")) / "bot.log"
    first, album, engine_s = [], [], []
    async with FakeTelegram() as tg:
        proc = BotProcess(tg, env=env, log_path=log_path)
        await proc.start()
        try:
            started = time.perf_counter()
            await proc.wait_ready(timeout=240)
            log(f"  bot ready in {time.perf_counter() - started:.1f} s; {trials} users, one after another")
            for trial in range(trials + 1):  # the first warms the bot's handlers up
                user = FakeUser(tg, 700_000 + trial, first_name=f"Bench{trial}")
                sent = time.monotonic()
                await user.send_text(PROMPT)
                screen = await user.next_message(lambda m: bool(m.buttons), timeout=60)
                tapped = time.monotonic()
                await user.press(screen, "No style")
                pictures = await user.next_message(lambda m: m.method in ("sendMediaGroup", "sendPhoto"), timeout=120)
                await user.next_message(lambda m: m.method == "sendMessage" and bool(m.buttons), timeout=60)
                done = ENGINE_LINE.findall(proc.logs())
                if len(done) != trial + 1:
                    raise RuntimeError(f"expected {trial + 1} 'job ... done' lines in the bot's log, found {len(done)}")
                if trial:
                    first.append(screen.call.time - sent)
                    album.append(pictures.call.time - tapped)
                    engine_s.append(float(done[-1]))
        except Exception as error:
            return {"skipped": f"the bot flow failed: {error!r}; log: {log_path}", "log_tail": proc.logs()[-3000:]}
        finally:
            await proc.close()
    overhead = [total - engine for total, engine in zip(album, engine_s, strict=True)]
    return {
        "trials": trials,
        "steps": steps,
        "method": "per job: (tap -> sendMediaGroup at the fake server) - (the job's own time in the bot's engine)",
        "engine_ms_p50": percentile(engine_s, 50) * 1000,
        "engine_ms_p95": percentile(engine_s, 95) * 1000,
        "first_answer_ms_p50": percentile(first, 50) * 1000,
        "first_answer_ms_p95": percentile(first, 95) * 1000,
        "album_ms_p50": percentile(album, 50) * 1000,
        "album_ms_p95": percentile(album, 95) * 1000,
        "overhead_ms_p50": percentile(overhead, 50) * 1000,
        "overhead_ms_p95": percentile(overhead, 95) * 1000,
        "overhead_ms": [seconds * 1000 for seconds in overhead],
        "log": str(log_path),
    }
