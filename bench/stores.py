"""`python -m bench --part stores`: the time to move one 4K picture's file through each of the fleet's picture stores
(ENGINE_FLEET_STORE), as a worker writes it and a bot reads it: the store's `put`, then its `get`, from one process.

    redis   a private redis-server with the persistence compose.yaml gives it (append-only, fsync every second)
    dir     a folder on this machine's disk (a shared folder over the network adds its own link's time)
    s3      moto's S3 server on 127.0.0.1 (tests/s3proc.py; needs the dev extras): an S3 API in pure Python,
            so its figures are an upper bound on the HTTP and signing cost, not a real object store's

The file is a 4096 x 2304 PNG of noise, as large as a 4K photo-like PNG gets (~28 MB); each store moves it
`TRIALS` times after one warm-up, and the median and the worst are reported.
"""

from __future__ import annotations

import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TRIALS = 7


def four_k_png() -> bytes:
    from PIL import Image

    noise = Image.frombytes("RGB", (4096, 2304), os.urandom(4096 * 2304 * 3))
    out = io.BytesIO()
    noise.save(out, "PNG", compress_level=1)
    return out.getvalue()


async def _time(store, data: bytes, trials: int) -> dict:
    from engine.fleet.stores import file_name

    puts, gets = [], []
    for n in range(trials + 1):
        name = file_name("be4c4", str(n), "png0")
        started = time.perf_counter()
        await store.put(name, data)
        stored = time.perf_counter()
        back = await store.get(name)
        done = time.perf_counter()
        assert back == data, "the file came back changed"
        await store.delete([name])
        if n:  # the first: connections, caches
            puts.append((stored - started) * 1000)
            gets.append((done - stored) * 1000)
    total = [p + g for p, g in zip(puts, gets, strict=True)]
    return {
        "put_ms": round(statistics.median(puts), 1),
        "get_ms": round(statistics.median(gets), 1),
        "median_ms": round(statistics.median(total), 1),
        "worst_ms": round(max(total), 1),
    }


async def measure(log: Callable[[str], None], trials: int = TRIALS) -> dict:
    from redis.asyncio import Redis

    from engine.fleet.stores import FolderStore, RedisStore, S3Store

    sys.path[:0] = [str(REPO / "tests")]
    from redisproc import RedisServer

    data = four_k_png()
    report: dict = {"file_mb": round(len(data) / 1e6, 1), "trials": trials, "stores": {}}
    folder = Path(tempfile.mkdtemp(prefix="easel-bench-stores-"))
    server = RedisServer(folder / "redis").start()
    redis = Redis.from_url(server.url)
    await redis.config_set("appendfsync", "everysec")  # compose.yaml's Redis: append-only, the default fsync
    try:
        stores: dict[str, object] = {"redis": RedisStore(redis, 600), "dir": FolderStore(folder / "pictures", 600)}
        s3 = _s3(folder)
        if s3 is not None:
            stores["s3"] = S3Store(s3.bucket("easel-bench"), "fleet", 600, endpoint=s3.endpoint)
        for kind, store in stores.items():
            await store.ready()  # type: ignore[attr-defined]
            report["stores"][kind] = figures = await _time(store, data, trials)
            log(f"stores: {kind}: {figures}")
        if s3 is not None:
            s3.stop()
        else:
            report["stores"]["s3"] = "skipped: moto is not installed (pip install -e '.[dev]')"
    finally:
        await redis.aclose()
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return report


def _s3(folder: Path):
    try:
        import moto  # noqa: F401
    except ImportError:
        return None
    from s3proc import CREDENTIALS, S3Server

    os.environ.update(CREDENTIALS)  # boto3 reads them, as it would a real store's
    return S3Server(folder / "moto.log").start()


def table(report: dict) -> str:
    lines = [f"stores: one 4K PNG of {report['file_mb']} MB, put then get, median of {report['trials']}"]
    for kind, figures in report["stores"].items():
        if isinstance(figures, str):
            lines.append(f"  {kind}: {figures}")
        else:
            lines.append(
                f"  {kind}: {figures['median_ms']:.0f} ms (put {figures['put_ms']:.0f} + get {figures['get_ms']:.0f}),"
                f" worst {figures['worst_ms']:.0f} ms"
            )
    return "\n".join(lines)
