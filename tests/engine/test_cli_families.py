"""The command line on the newer families' tiny kits (a contract): a Russian prompt gives PNGs whose metadata has the
prompt as typed, the family and the seeds; `modes` names the family; `train-style` trains a brand style on klein.
klein as an outside script runs it (a fresh process); the others through the same `main` in this process (a fresh
interpreter costs ~15 s of imports here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml
from conftest import REPO
from PIL import Image


def run_cli(engine_cache, model: str, *args: str, **env_extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ENGINE_MODEL": model, "ENGINE_CACHE_DIR": str(engine_cache), "HF_HUB_OFFLINE": "1"}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-m", "engine", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


def in_process(monkeypatch, engine_cache, model: str, *args: str) -> int:
    from engine.__main__ import main

    monkeypatch.setenv("ENGINE_MODEL", model)
    monkeypatch.setenv("ENGINE_CACHE_DIR", str(engine_cache))
    return main(list(args))


def test_klein_generate_a_russian_prompt_writes_pngs_naming_it_as_typed_the_family_and_the_seeds(
    engine_cache, tmp_path
):
    done = run_cli(engine_cache, "tiny-flux2", "generate", "рыжая лиса", "-n", "2", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    assert_pictures(tmp_path, "flux2_klein")


@pytest.mark.parametrize(("model", "family"), [("tiny-kandinsky5", "kandinsky5"), ("tiny-qwen-image", "qwen_image")])
def test_the_other_families_do_the_same(monkeypatch, engine_cache, tmp_path, model, family):
    assert in_process(monkeypatch, engine_cache, model, "generate", "рыжая лиса", "-n", "2", "--steps", "2",
                      "--out", str(tmp_path)) == 0  # fmt: skip
    assert_pictures(tmp_path, family)


def assert_pictures(folder, family: str) -> None:
    files = sorted(folder.glob("*.png"))
    assert len(files) == 2
    found = [json.loads(Image.open(path).info["easel"]) for path in files]
    assert {p["prompt"] for p in found} == {p["user_prompt"] for p in found} == {"рыжая лиса"}
    assert {p["family"] for p in found} == {family}
    first = min(p["seed"] for p in found)
    assert sorted(p["seed"] for p in found) == [first, first + 1]


def test_modes_names_the_family_its_modes_and_why_the_others_are_missing(monkeypatch, engine_cache, capsys):
    assert in_process(monkeypatch, engine_cache, "tiny-kandinsky5", "modes") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "family: kandinsky5"
    assert "generate" in lines and "vary" in lines and "zoom" not in lines
    assert any(line.startswith("# not available: zoom: ") and "inpainting" in line for line in lines)


def test_klein_train_style_writes_the_adapter_and_the_style_record(engine_cache, tmp_path):
    pictures = tmp_path / "brand"
    pictures.mkdir()
    for i, colour in enumerate(("red", "purple")):
        Image.new("RGB", (64, 64), colour).save(pictures / f"{i}.png")
    styles, loras = tmp_path / "styles.yaml", tmp_path / "loras"
    done = run_cli(
        engine_cache, "tiny-flux2", "train-style", "brand", "--images", str(pictures), "--trigger", "brand",
        "--steps", "3", "--resolution", "64", ENGINE_STYLES_FILE=str(styles), ENGINE_LORA_DIR=str(loras),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"adapter: {loras / 'brand.safetensors'}" in done.stdout and "peak memory" in done.stdout
    assert (loras / "brand.safetensors").is_file()
    assert [s["id"] for s in yaml.safe_load(styles.read_text())["styles"]] == ["brand"]
