"""The real bot (`python -m bot`) with engine faults that a prompt asks for: end-to-end fault tests only.

Production code has no fault hooks; this launcher wraps the text-to-image runner, then runs the bot unchanged:
- "[oom]" in a prompt: the text-to-image pipeline raises torch's out-of-memory error, on every attempt;
- "[oom-once]": only on the first attempt, not on the engine's low-memory retry;
- "[hold=S]": the job, once running, waits S seconds before drawing, and stops waiting when the engine interrupts
  it (its run timeout, a cancel, a shutdown), as a pipeline does between steps: a long job of a known length
  whatever the machine's speed;
- "[step=S]": every denoising step of the job takes S seconds more: a drawing of a known least length whose steps
  still report progress and latents (the live preview), whatever the machine's speed;
- "[steps=N]": the job draws in N denoising steps, whatever ENGINE_QUALITY_STEPS says (a live preview needs a step
  between the first and the last);
- "[hold=shutdown]": the job, once running, waits until the engine starts closing (SIGTERM), then draws: a job that
  is certain to be running when the shutdown begins, so that the drain must let it finish.

    BotProcess(tg, args=("tests/e2e/faulty_bot.py",), env=...)
"""

from __future__ import annotations

import dataclasses
import logging
import re
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository: bot, engine
log = logging.getLogger("faulty_bot")


def slowed(hooks, step_s: float):
    """`hooks` whose progress report, made after every denoising step, first waits `step_s` (or an interrupt)."""
    report = hooks.progress

    def progress(step: int, total: int) -> None:
        until = time.monotonic() + step_s
        while time.monotonic() < until and not hooks.interrupted():
            time.sleep(0.02)
        report(step, total)

    return dataclasses.replace(hooks, progress=progress)


def install() -> None:
    import torch

    from engine import modes
    from engine.api import Mode
    from engine.service import Engine

    generate = modes.RUNNERS[Mode.GENERATE]
    close = Engine.close
    closing = threading.Event()

    async def close_noted(self: Engine, drain_s: float = 60.0) -> None:
        closing.set()  # the held job's end reaches the loop only after `close` has begun to wait for it
        await close(self, drain_s)

    def generate_or_fail(owner, plans, hooks):
        prompts = " ".join(plan.request.prompt for plan in plans)
        if "[oom]" in prompts or ("[oom-once]" in prompts and not hooks.low_memory):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (simulated by a test)")
        if found := re.search(r"\[hold=([\d.]+)\]", prompts):
            log.info("holding %s s", found.group(1))
            until = time.monotonic() + float(found.group(1))
            while time.monotonic() < until and not hooks.interrupted():
                time.sleep(0.05)
            log.info("held (interrupted: %s)", hooks.interrupted())
        if "[hold=shutdown]" in prompts:
            log.info("holding until the engine closes")
            while not closing.is_set() and not hooks.interrupted():
                time.sleep(0.05)
            log.info("held until the engine closed (interrupted: %s)", hooks.interrupted())
        if found := re.search(r"\[steps=(\d+)\]", prompts):
            plans = [dataclasses.replace(plan, steps=int(found.group(1))) for plan in plans]
        if found := re.search(r"\[step=([\d.]+)\]", prompts):
            hooks = slowed(hooks, float(found.group(1)))
        return generate(owner, plans, hooks)

    modes.RUNNERS[Mode.GENERATE] = generate_or_fail
    Engine.close = close_noted


if __name__ == "__main__":
    install()
    from bot.app import main

    raise SystemExit(main())
