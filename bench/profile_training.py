"""How much a user's drawing waits behind a style being trained in the engine (the chat's /train_style), on the
trained tiny-shapes kit: drawing latency alone and while a training runs, the training's time, peak memory.

    HF_HUB_OFFLINE=1 python bench/profile_training.py [--steps 60] [--batch 8]

One torch thread, wall time (on a shared machine, run it twice). A drawing submitted during a training waits for
the training step in progress (engine/service.py gives training a turn only while no drawing waits).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.api import ImageRequest, TrainingRequest
from engine.service import Engine
from engine.settings import EngineSettings
from engine.training.shapes import KIT, SHAPES, draw
from engine.training.style import peak_rss_mb

REPEATS = 8


def green_pictures(name: str, count: int = 6) -> TrainingRequest:
    rng, pictures, captions = random.Random(5), [], []
    for i in range(count):
        shape, background = SHAPES[i % 3], ("white", "black")[i % 2]
        buffer = io.BytesIO()
        draw("green", shape, background, rng).save(buffer, format="PNG")
        pictures.append(buffer.getvalue())
        captions.append(f"a {('red', 'blue', 'yellow', 'white')[i % 4]} {shape} on a {background} background")
    return TrainingRequest(name=name, pictures=tuple(pictures), captions=tuple(captions))


async def latencies(engine: Engine, count: int) -> list[float]:
    times = []
    for seed in range(REPEATS):
        started = time.perf_counter()
        request = ImageRequest(prompt="a red circle", style="none", count=count, seed=seed)
        await engine.result(await engine.submit("user", request))
        times.append(time.perf_counter() - started)
        await asyncio.sleep(0.3)  # the training goes on between the drawings
    return times


async def until(engine: Engine, job_id: str, step: int) -> None:
    async for status in engine.events(job_id):
        if status.step >= step or status.state.finished:
            return


async def main(steps: int, batch: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="easel-training-bench-"))
    (folder / "styles.yaml").write_text((KIT.parent / "tiny-shapes-styles.yaml").read_text())
    settings = EngineSettings(
        model="tiny-shapes",
        styles_file=folder / "styles.yaml",
        lora_dir=folder / "loras",
        warmup=False,
        quality_steps=8,
        training_steps=steps,
        training_batch=batch,
        training_lr=5e-3,
    )
    engine = Engine(settings)
    await engine.start()
    alone = {count: await latencies(engine, count) for count in (1, 4)}
    print(f"serving: peak memory {peak_rss_mb():.0f} MB")
    started = time.perf_counter()
    job = await engine.train_style("admin", green_pictures("brand"))
    await until(engine, job, 2)
    behind = {count: await latencies(engine, count) for count in (1, 4)}
    await until(engine, job, steps + 1)  # its end
    print(f"training, {steps} steps of {batch}, with the drawings: {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    job = await engine.train_style("admin", green_pictures("brand-again"))
    await until(engine, job, steps + 1)
    print(f"training alone: {time.perf_counter() - started:.1f} s; peak memory {peak_rss_mb():.0f} MB")
    for count in (1, 4):
        a, b = statistics.median(alone[count]), statistics.median(behind[count])
        print(f"{count} picture(s), 8 steps: alone {a:.3f} s, during a training {b:.3f} s (median): +{b - a:.3f} s")
    await engine.close(drain_s=0)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(1)
    asyncio.run(main(args.steps, args.batch))
