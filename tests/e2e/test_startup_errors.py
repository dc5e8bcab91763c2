"""A bot that cannot start says why in one line, with what to set or fetch, instead of a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

from e2e.helpers import REPO


def run_bot(env: dict[str, str], cwd) -> subprocess.CompletedProcess:
    clean = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "HF_HUB_OFFLINE": "1"}
    clean.update(PYTHONPATH=str(REPO), **env)
    return subprocess.run(
        [sys.executable, "-m", "bot"], cwd=cwd, env=clean, capture_output=True, text=True, timeout=120
    )


def test_without_a_token_the_bot_says_what_to_set_in_one_line(tmp_path):
    done = run_bot({}, tmp_path)  # an empty folder: no .env either
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr
    assert "BOT_TOKEN is not set" in done.stderr and ".env" in done.stderr


def test_weights_that_are_not_there_are_named_with_how_to_get_them(tmp_path):
    done = run_bot({"BOT_TOKEN": "1:x", "ENGINE_MODEL": str(tmp_path / "sdxl"), "LOG_LEVEL": "ERROR"}, tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    line = done.stderr.strip().splitlines()[-1]  # (on a CPU host without torchvision, transformers warns first)
    assert f"ENGINE_MODEL={tmp_path / 'sdxl'}: no such file or folder" in line and "huggingface-cli download" in line
    offline = run_bot({"BOT_TOKEN": "1:x", "ENGINE_MODEL": "someone/not-downloaded", "LOG_LEVEL": "ERROR"}, tmp_path)
    assert offline.returncode == 2 and "not in the Hugging Face cache" in offline.stderr.strip().splitlines()[-1]
