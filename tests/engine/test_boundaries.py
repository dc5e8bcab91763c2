"""The engine stands alone: a messenger (the Telegram bot today, another one later) is its client, never a part.

The engine imports nothing of aiogram or of the bot's packages; loading the engine and its service pulls in no
aiogram, so a distributed worker can run the engine without the bot installed.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ENGINE = REPO / "engine"
CLIENT_PACKAGES = frozenset({"aiogram", "bot", "handlers", "keyboards", "locales"})


def client_imports(source: str) -> list[str]:
    """The imported modules of `source` (absolute imports) whose top-level package is one of the client's."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [name for name in names if name.split(".")[0] in CLIENT_PACKAGES]
    return found


def test_the_check_sees_every_form_of_import():
    source = "import aiogram\nfrom bot.files import x\nimport handlers.jobs as j\nfrom . import bot\nimport botany\n"
    assert client_imports(source) == ["aiogram", "bot.files", "handlers.jobs"]


def test_no_engine_module_imports_aiogram_or_the_bot():
    files = sorted(ENGINE.rglob("*.py"))
    assert len(files) > 20  # the walk found the engine
    offenders = {
        str(path.relative_to(REPO)): names
        for path in files
        if (names := client_imports(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}


def test_loading_the_engine_and_its_service_loads_no_aiogram():
    probe = "import sys, engine, engine.service, engine.studio; print('aiogram' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
