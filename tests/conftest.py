"""Shared fixtures: the offline tiny model kit (built once, cached), sample photos, a real redis-server, a real
S3-compatible server.

Tests never touch the network: HF_HUB_OFFLINE is forced before any library is imported.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = Path(os.environ.get("EASEL_SAMPLES", REPO.parent / "shared" / "samples"))
# ENGINE_CACHE_DIR for every test: the kit is built into CACHE/tiny-kit once and reused across runs.
CACHE = Path(os.environ.get("EASEL_TEST_CACHE", REPO / ".cache" / "test"))


@pytest.fixture(scope="session")
def engine_cache() -> Path:
    """The folder to pass as EngineSettings.cache_dir / ENGINE_CACHE_DIR; the tiny kit is ready in it."""
    from engine.tiny import ensure

    ensure(CACHE / "tiny-kit")
    return CACHE


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module: with two on these shared CPUs, training steps ran 20-50 times slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_kit(engine_cache: Path) -> Path:
    return engine_cache / "tiny-kit"


@pytest.fixture(scope="session")
def samples() -> Path:
    assert SAMPLES.is_dir(), f"sample photos not found at {SAMPLES} (set EASEL_SAMPLES)"
    return SAMPLES


@pytest.fixture(scope="session")
def sample_bytes(samples: Path):
    def read(name: str) -> bytes:
        return (samples / name).read_bytes()

    return read


@pytest.fixture
def redis_server(tmp_path):
    """A fresh real redis-server per test (killable with .kill(), restartable with .restart())."""
    from redisproc import RedisServer

    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory):
    """A real S3-compatible server on 127.0.0.1 (moto's server mode, tests/s3proc.py) for the whole session."""
    from s3proc import S3Server

    server = S3Server(tmp_path_factory.mktemp("s3") / "moto.log").start()
    yield server
    server.stop()
