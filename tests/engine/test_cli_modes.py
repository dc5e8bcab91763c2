"""The image modes on the command line (`python -m engine vary IMG`, ...): a contract outside scripts rely on.

Two commands run as a fresh process, exactly as a script would; the rest call the same `main(argv)` in this
process (the same parser and engine, without paying for a new interpreter each time).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO
from PIL import Image

from engine.__main__ import main

ENV = {"ENGINE_MODEL": "tiny", "ENGINE_QUALITY_STEPS": "2", "HF_HUB_OFFLINE": "1"}


def run_cli(engine_cache, *args: str, **env: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **ENV, "ENGINE_CACHE_DIR": str(engine_cache), **env}
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip


@pytest.fixture
def cli(engine_cache, monkeypatch, capsys):
    """`python -m engine ...` in this process: returns (exit code, stdout + stderr)."""
    for key, value in {**ENV, "ENGINE_CACHE_DIR": str(engine_cache)}.items():
        monkeypatch.setenv(key, value)

    def run(*args: str) -> tuple[int, str]:
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exit:
            code = exit.code
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    return run


def saved(folder: Path) -> list[tuple[Image.Image, dict]]:
    files = sorted([*folder.glob("*.png"), *folder.glob("*.jpg")])
    return [(Image.open(file), json.loads(Image.open(file).info.get("easel", "{}"))) for file in files]


@pytest.fixture(scope="module")
def our_png(engine_cache, tmp_path_factory) -> Path:
    """A picture the engine made earlier: 16:9, anime style, seed 5."""
    out = tmp_path_factory.mktemp("ours")
    with pytest.MonkeyPatch.context() as env:
        for key, value in {**ENV, "ENGINE_CACHE_DIR": str(engine_cache)}.items():
            env.setenv(key, value)
        argv = ["generate", "a red fox", "-n", "1", "--style", "anime", "--seed", "5", "--aspect", "16:9"]
        assert main([*argv, "--out", str(out)]) == 0
    return next(out.glob("*.png"))


def test_vary_our_picture_strongly_keeps_its_prompt_and_style(engine_cache, our_png, tmp_path):
    done = run_cli(engine_cache, "vary", str(our_png), "--strong", "-n", "2", "--seed", "3", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    pictures = saved(tmp_path)
    assert len(pictures) == 2
    for image, params in pictures:
        assert params["mode"] == "vary" and params["style"] == "anime" and "a red fox" in params["prompt"]
        assert image.size == (176, 96)
    assert {params["seed"] for _, params in pictures} == {3, 4}


def test_upscale_writes_one_file_at_the_configured_long_side(engine_cache, samples, tmp_path):
    done = run_cli(engine_cache, "upscale", str(samples / "rocket.jpg"), "--seed", "1", "--out", str(tmp_path),
                   ENGINE_UPSCALE_LONG_SIDE="512")  # fmt: skip
    assert done.returncode == 0, done.stderr
    ((image, params),) = saved(tmp_path)
    assert image.size == (512, 342) and params["mode"] == "upscale"


def test_beautify_prints_one_line_without_the_queue(cli, monkeypatch):
    monkeypatch.setenv("ENGINE_LLM_TIMEOUT_S", "60")
    code, out = cli("beautify", "a red fox", "--seed", "2")
    assert code == 0, out
    lines = [line for line in out.strip().splitlines() if not line.startswith("[transformers]")]
    assert len(lines) == 1 and lines[0].strip()


def test_restyle_needs_a_style_and_keeps_the_seed_of_our_picture(cli, our_png, tmp_path):
    code, _ = cli("restyle", str(our_png), "--out", str(tmp_path))
    assert code not in (0, None)
    code, out = cli("restyle", str(our_png), "--style", "watercolor", "-n", "1", "--out", str(tmp_path))
    assert code == 0, out
    ((image, params),) = saved(tmp_path)
    assert params["seed"] == 5 and params["style"] == "watercolor" and image.size == (176, 96)


def test_mix_two_photos_with_a_balance_and_a_prompt(cli, samples, tmp_path):
    code, out = cli("mix", str(samples / "coffee.png"), str(samples / "chelsea.png"), "--balance", "70",
                    "--prompt", "a cup of tea", "-n", "1", "--seed", "1", "--out", str(tmp_path))  # fmt: skip
    assert code == 0, out
    ((image, params),) = saved(tmp_path)
    assert params["mode"] == "mix" and image.width > image.height  # the first photo's 3:2


def test_remix_with_a_new_prompt(cli, samples, tmp_path):
    code, out = cli("remix", str(samples / "chelsea.png"), "a tiger in the snow", "-n", "2", "--out", str(tmp_path))
    assert code == 0, out
    assert [params["mode"] for _, params in saved(tmp_path)] == ["remix", "remix"]


def test_zoom_to_another_aspect(cli, samples, tmp_path):
    code, out = cli("zoom", str(samples / "astronaut.png"), "--aspect", "16:9", "-n", "1", "--out", str(tmp_path))
    assert code == 0, out
    ((image, _),) = saved(tmp_path)
    assert image.width > image.height


def test_reimagine_and_photo_prompt(cli, samples, tmp_path):
    assert cli("reimagine", str(samples / "chelsea.png"), "-n", "1", "--out", str(tmp_path / "a"))[0] == 0
    assert (
        cli("photo", str(samples / "chelsea.png"), "a cat astronaut", "-n", "1", "--out", str(tmp_path / "b"))[0] == 0
    )
    assert len(saved(tmp_path / "a")) == 1 and len(saved(tmp_path / "b")) == 1


def test_a_bad_request_is_a_clear_error_not_a_traceback(cli, samples, tmp_path):
    code, out = cli("mix", str(samples / "astronaut.png"), "--out", str(tmp_path))  # a mix of one picture
    assert code == 2 and "bad_request" in out and "Traceback" not in out
    code, _ = cli("vary", str(tmp_path / "missing.png"), "--out", str(tmp_path))
    assert code not in (0, None)
