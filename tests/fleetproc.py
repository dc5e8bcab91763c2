"""Real `python -m engine.worker` processes for tests: started on the tiny kit with one torch thread each,
killable (SIGKILL, like a lost machine) and stoppable (SIGTERM)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis as redis_sync

REPO = Path(__file__).resolve().parents[1]
# A dead worker's jobs run again after this (production default 30 s): short, so that a test waits little.
VISIBILITY_S = 3
WORKER_ENV = {
    "ENGINE_MODEL": "tiny",
    "ENGINE_DEVICE": "cpu",
    "ENGINE_QUALITY_STEPS": "2",
    "ENGINE_FAST_STEPS": "1",
    "ENGINE_WARMUP": "false",
    "ENGINE_FLEET_VISIBILITY_S": str(VISIBILITY_S),
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "HF_HUB_OFFLINE": "1",
    "PYTHONUNBUFFERED": "1",
}


class Fleet:
    """Workers by name, against one Redis; `launcher` is the worker's command (default `python -m engine.worker`)."""

    def __init__(self, redis_url: str, cache: Path, logs: Path, launcher: tuple[str, ...] = ("-m", "engine.worker")):
        self.redis_url, self.cache, self.logs, self.launcher = redis_url, cache, logs, launcher
        self.procs: dict[str, subprocess.Popen] = {}
        logs.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, **env: str) -> None:
        full = {k: v for k, v in os.environ.items() if not k.startswith(("ENGINE_", "REDIS_URL"))}
        full.update(WORKER_ENV, ENGINE_CACHE_DIR=str(self.cache), REDIS_URL=self.redis_url, ENGINE_FLEET_NAME=name)
        full.update(env)
        log = open(self.logs / f"{name}.log", "ab")
        self.procs[name] = subprocess.Popen(
            [sys.executable, *self.launcher], cwd=REPO, env=full, stdout=log, stderr=subprocess.STDOUT
        )

    def wait_live(self, *names: str, timeout: float = 120) -> None:
        client = redis_sync.Redis.from_url(self.redis_url)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if all(client.exists(f"easel:fleet:worker:{name}") for name in names):
                    return
                for name in names:
                    if self.procs[name].poll() is not None:
                        raise RuntimeError(f"worker {name} exited: {self.log(name)[-3000:]}")
                time.sleep(0.2)
        finally:
            client.close()
        raise TimeoutError(f"workers {names} did not come up: {[self.log(n)[-2000:] for n in names]}")

    def advertised(self, name: str) -> dict:
        client = redis_sync.Redis.from_url(self.redis_url)
        try:
            raw = client.get(f"easel:fleet:worker:{name}")
            return json.loads(raw) if raw else {}
        finally:
            client.close()

    def kill(self, name: str) -> None:
        """SIGKILL: the worker dies mid-whatever, holding its jobs."""
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def stop(self, name: str, timeout: float = 60) -> int:
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return -9

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def jobs_of(redis_url: str, user: int | str) -> list[dict[str, str]]:
    """The fleet's records of a user's jobs (id, state, worker, need...)."""
    client = redis_sync.Redis.from_url(redis_url)
    try:
        jobs = []
        for key in client.scan_iter("easel:fleet:job:*"):
            fields = {k.decode(): v.decode() for k, v in client.hgetall(key).items()}
            if fields.get("user") == str(user):
                jobs.append({"id": key.decode().rsplit(":", 1)[1], **fields})
        return jobs
    finally:
        client.close()


def fleet_events(redis_url: str) -> list[dict[str, str]]:
    """Every event of the fleet so far (the events stream), oldest first."""
    client = redis_sync.Redis.from_url(redis_url)
    try:
        return [{k.decode(): v.decode() for k, v in f.items()} for _, f in client.xrange("easel:fleet:events")]
    finally:
        client.close()
