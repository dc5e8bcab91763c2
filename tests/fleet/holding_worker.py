"""The real worker (`python -m engine.worker`) with two test hooks:
- "[hold=S]" in a prompt keeps its job running S seconds (stopping early when the engine interrupts it: a cancel, a
  timeout), as a pipeline does between steps. A job of a known length whatever the machine's speed, so that a test
  can kill its worker, or cancel it, mid-job.
- "[steps=N]" in a prompt draws it in N denoising steps (ImageRequest.steps) instead of the fleet's 1-2.
- "[step=S]": every denoising step takes S seconds more (tests/e2e/faulty_bot.py's hook): with [steps=N], a drawing
  of a known least length, long enough for live previews on any machine.

    Fleet(..., launcher=("tests/fleet/holding_worker.py",))
"""

from __future__ import annotations

import dataclasses
import logging
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository: engine
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # tests: e2e.faulty_bot's hooks
log = logging.getLogger("holding_worker")


def install() -> None:
    from engine import modes
    from engine.api import Mode

    generate = modes.RUNNERS[Mode.GENERATE]

    def generate_held(owner, plans, hooks):
        prompts = " ".join(plan.request.prompt for plan in plans)
        if found := re.search(r"\[hold=([\d.]+)\]", prompts):
            log.info("holding %s s", found.group(1))
            until = time.monotonic() + float(found.group(1))
            while time.monotonic() < until and not hooks.interrupted():
                time.sleep(0.05)
        if found := re.search(r"\[step=([\d.]+)\]", prompts):
            from e2e.faulty_bot import slowed

            hooks = slowed(hooks, float(found.group(1)))
        return generate(owner, plans, hooks)

    modes.RUNNERS[Mode.GENERATE] = generate_held

    from engine.fleet import worker

    read = worker.request_from

    def request_with_steps(fields):
        request = read(fields)
        if found := re.search(r"\[steps=(\d+)\]", request.prompt):
            request = dataclasses.replace(request, steps=int(found.group(1)))
        return request

    worker.request_from = request_with_steps


if __name__ == "__main__":
    install()
    from engine.worker import main

    raise SystemExit(main())
