"""`python -m bench --part fleet` (also `python -m engine.bench --part fleet`): the fleet of GPU workers behind Redis.

1. throughput with 1, 2 and 3 `python -m engine.worker` processes (each pinned to one torch thread, so that a
   2-core CPU can show two of them at work), the same load of many users at once; the ratio to one worker;
2. the latency Redis adds: one job at a time, submit -> result in the bot's hands, through FleetService and one
   worker vs the in-process Engine with the same settings (p50 / p95 ms). Each job's time outside its pipeline
   call (JobResult.seconds) is its overhead; the added latency is the fleet's overhead minus the in-process one,
   so that the noise of a busy CPU in the pipeline call itself (which costs the same on both paths) drops out.

The tiny model kit (offline); a private redis-server on a free port (no persistence: a benchmark).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STEPS = 8  # denoising steps per job: a job of ~0.5-1 s on the tiny kit, long enough for the figures to mean work


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Redis:
    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.folder = Path(tempfile.mkdtemp(prefix="easel-bench-redis-"))
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--dir", str(self.folder)]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)


def _env(cache: Path) -> dict[str, str]:
    return {
        "ENGINE_MODEL": "tiny",
        "ENGINE_DEVICE": "cpu",
        "ENGINE_CACHE_DIR": str(cache),
        "ENGINE_QUALITY_STEPS": str(STEPS),
        "ENGINE_WARMUP": "true",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
    }


def _start_workers(n: int, redis_url: str, cache: Path, logs: Path) -> list[subprocess.Popen]:
    procs = []
    for i in range(n):
        env = {**os.environ, **_env(cache), "REDIS_URL": redis_url, "ENGINE_FLEET_NAME": f"bench{i + 1}"}
        out = open(logs / f"worker{i + 1}.log", "wb")
        procs.append(
            subprocess.Popen([sys.executable, "-m", "engine.worker"], cwd=REPO, env=env, stdout=out, stderr=out)
        )
    return procs


def _stop_workers(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


async def _wait_for_workers(service, n: int, timeout: float = 300) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while service.stats()["workers"] < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{n} worker(s) did not come up")
        await asyncio.sleep(0.5)
        await service._refresh()


async def _load(service, users: int, jobs: int, count: int) -> float:
    """`users` users submit `jobs` jobs each at once; seconds until the last result is in hand."""
    from engine.api import ImageRequest

    started = time.perf_counter()

    async def one(user: int, n: int) -> None:
        job = await service.submit(f"bench{user}", ImageRequest(prompt=f"a lighthouse {user} {n}", count=count))
        await service.result(job)

    await asyncio.gather(*(one(user, n) for user in range(users) for n in range(jobs)))
    return time.perf_counter() - started


async def _paired_latencies(service, settings, trials: int) -> list[tuple[list[float], list[float]]]:
    """One job at a time, alternately through the fleet (one worker) and the in-process Engine (here, same
    settings, one thread), so that a busy machine's drift hits both alike. For each path: milliseconds from submit
    to the result in hand, and of those the time outside the pipeline call."""
    from engine.api import ImageRequest
    from engine.service import Engine

    engine = Engine(settings)
    await engine.start()
    samples: list[tuple[list[float], list[float]]] = [([], []), ([], [])]
    try:
        for n in range(-1, trials):  # n = -1: one job each first, not counted (first-call costs)
            for path, door in enumerate((service, engine)):
                request = ImageRequest(prompt=f"a quiet harbour {n}", count=1, seed=max(n, 0))
                started = time.perf_counter()
                result = await _one(door, request)
                total = (time.perf_counter() - started) * 1000
                if n >= 0:
                    samples[path][0].append(total)
                    samples[path][1].append(total - result.seconds * 1000)
    finally:
        await engine.close(0)
    return samples


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


async def measure(cache: Path, quick: bool, log: Callable[[str], None]) -> dict:
    import torch

    from engine.settings import EngineSettings
    from engine.tiny import ensure

    ensure(cache / "tiny-kit")
    torch.set_num_threads(1)
    users, jobs, count = (8, 2, 2) if quick else (12, 3, 2)
    settings = EngineSettings(model="tiny", device="cpu", cache_dir=cache, quality_steps=STEPS, max_waiting_per_user=4)
    report: dict = {"load": {"users": users, "jobs_each": jobs, "pictures_each": count, "steps": STEPS}}
    redis = _Redis()
    try:
        throughput, samples = await _fleet_runs(redis.url, settings, cache, (users, jobs, count), quick, log)
    finally:
        redis.stop()
    report["throughput"] = throughput
    report["latency_ms"] = _latency_summary(*samples)
    report["load_average"] = os.getloadavg()
    return report


async def _fleet_runs(redis_url: str, settings, cache: Path, load: tuple[int, int, int], quick: bool, log) -> tuple:
    """Throughput with 1, 2, 3 workers (best of 3 runs; 1 with --quick) and, on one idle worker first, the paired
    latency samples."""
    from engine.fleet.client import FleetService

    users, jobs, count = load
    repeats, trials = (1, 8) if quick else (3, 30)
    logs = Path(tempfile.mkdtemp(prefix="easel-bench-fleet-"))
    service = FleetService(redis_url, settings.model_copy(update={"max_queue": users * jobs}))
    await service.start()
    throughput: list[dict] = []
    samples: list = []
    for n in (1, 2, 3):
        procs = _start_workers(n, redis_url, cache, logs)
        try:
            await _wait_for_workers(service, n)
            if n == 1:  # before any load: an idle worker's engine holds no gather window for other users
                samples = await _paired_latencies(service, settings, trials)
            await _load(service, users, 1, count)  # every worker warm, batches formed once
            # Best of `repeats`: on a shared CPU other processes' bursts only ever slow a run down.
            runs = [await _load(service, users, jobs, count) for _ in range(repeats)]
            seconds, pictures = min(runs), users * jobs * count
            throughput.append(
                {"workers": n, "seconds": round(seconds, 2), "runs_s": [round(r, 2) for r in runs],
                 "pictures_per_s": pictures / seconds}
            )  # fmt: skip
            log(f"fleet: {n} worker(s): {pictures} pictures in {seconds:.1f} s (best of {runs})")
        finally:
            _stop_workers(procs)
            await asyncio.sleep(3 * 2.0)  # the stopped workers' advertisements expire
            await service._refresh()
    for row in throughput:
        row["ratio"] = round(row["pictures_per_s"] / throughput[0]["pictures_per_s"], 2)
        row["pictures_per_s"] = round(row["pictures_per_s"], 2)
    await service.close(0)
    await service.redis.aclose()
    shutil.rmtree(logs, ignore_errors=True)
    return throughput, samples


def _latency_summary(fleet: tuple[list[float], list[float]], local: tuple[list[float], list[float]]) -> dict:
    def quantiles(values: list[float]) -> dict:
        return {"p50": round(_p(values, 50), 1), "p95": round(_p(values, 95), 1)}

    latency = {
        "trials": len(fleet[0]),
        "in_process": quantiles(local[0]),
        "fleet": quantiles(fleet[0]),
        "in_process_overhead": quantiles(local[1]),
        "fleet_overhead": quantiles(fleet[1]),
    }
    latency["added"] = {
        q: round(latency["fleet_overhead"][q] - latency["in_process_overhead"][q], 1) for q in ("p50", "p95")
    }
    return latency


async def _one(service, request):
    job = await service.submit("latency", request)
    return await service.result(job)


def table(report: dict) -> str:
    lines = [f"fleet: {report['load']} (one torch thread per worker); load average {report['load_average']}"]
    for row in report["throughput"]:
        lines.append(
            f"  {row['workers']} worker(s): {row['pictures_per_s']:.2f} pictures/s "
            f"({row['seconds']:.1f} s), {row['ratio']:.2f}x one worker"
        )
    latency = report["latency_ms"]
    for name in ("in_process", "fleet", "in_process_overhead", "fleet_overhead", "added"):
        lines.append(f"  latency {name}: p50 {latency[name]['p50']:.1f} ms, p95 {latency[name]['p95']:.1f} ms")
    return "\n".join(lines)
