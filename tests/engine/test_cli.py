"""The command line, as an outside script would run it: a fresh process with ENGINE_MODEL=tiny, offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import REPO
from PIL import Image


def run_cli(engine_cache, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "ENGINE_MODEL": "tiny",
        "ENGINE_CACHE_DIR": str(engine_cache),
        "ENGINE_QUALITY_STEPS": "2",
        "HF_HUB_OFFLINE": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "engine", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


def test_generate_writes_four_pngs_naming_prompt_style_and_seed(engine_cache, tmp_path):
    done = run_cli(
        engine_cache,
        "generate",
        "a red fox",
        "-n",
        "4",
        "--style",
        "anime",
        "--seed",
        "1",
        "--aspect",
        "16:9",
        "--out",
        str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    files = sorted(tmp_path.glob("*.png"))
    assert len(files) == 4
    seeds = set()
    for file in files:
        image = Image.open(file)
        params = json.loads(image.info["easel"])
        assert params["user_prompt"] == "a red fox" and params["style"] == "anime"
        assert "a red fox" in image.info["parameters"] and f"Seed: {params['seed']}" in image.info["parameters"]
        assert image.width > image.height
        seeds.add(params["seed"])
    assert seeds == {1, 2, 3, 4}


def test_styles_lists_ids_and_both_languages(engine_cache):
    done = run_cli(engine_cache, "styles")
    assert done.returncode == 0, done.stderr
    assert "watercolor" in done.stdout and "Акварель" in done.stdout and len(done.stdout.splitlines()) >= 12


def test_a_bad_style_is_a_clear_error_not_a_traceback(engine_cache, tmp_path):
    done = run_cli(engine_cache, "generate", "a fox", "--style", "nope", "--out", str(tmp_path))
    assert done.returncode == 2 and "unknown style" in done.stderr and "Traceback" not in done.stderr
