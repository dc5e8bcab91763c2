"""An operator runs `cp .env.example .env && docker compose up -d`: what compose.yaml, the Dockerfile and
.env.example promise them, read from the files (no Docker needed)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from pydantic_settings import BaseSettings

from bot.app import SHUTDOWN_MARGIN_S
from bot.config import Settings
from engine.settings import EngineSettings

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def redis(compose) -> dict:
    return compose["services"]["redis"]


@pytest.fixture(scope="module")
def bot(compose) -> dict:
    return compose["services"]["bot"]


def seconds(duration: str) -> float:
    """A compose duration ("150s", "2m30s", "1h") in seconds."""
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?", duration)
    assert parts and duration, f"not a compose duration: {duration!r}"
    hours, minutes, secs = (float(part or 0) for part in parts.groups())
    return hours * 3600 + minutes * 60 + secs


def mount(volume: str) -> tuple[str, str]:
    """(source, target) of a short-syntax volume; the source may be `${VAR:-default}`, the mode is dropped."""
    source, target = re.sub(r":(ro|rw|z|Z)$", "", volume).rsplit(":", 1)
    return source, target


def command_line(value: str | list[str]) -> str:
    return value if isinstance(value, str) else " ".join(value)


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


@pytest.fixture(scope="module")
def worker(compose) -> dict:
    return compose["services"]["worker"]


# ---- Redis -----------------------------------------------------------------------------------------------------


def test_redis_keeps_records_across_a_crash_and_never_evicts(redis):
    command = command_line(redis["command"])
    assert redis["image"].startswith("redis:7")
    assert re.search(r"--appendonly\s+yes\b", command)
    assert re.search(r"--appendfsync\s+everysec\b", command)
    assert re.search(r"--maxmemory-policy\s+noeviction\b", command)
    assert re.search(r"--requirepass\s+\$\{REDIS_PASSWORD[:?}]", command), "the password comes from .env"


def test_redis_data_lives_in_a_named_volume(compose, redis):
    sources = [source for source, target in map(mount, redis["volumes"]) if target == "/data"]
    assert sources and sources[0] in compose["volumes"], "/data in a named volume, declared at the top level"


def test_redis_is_healthy_only_when_it_answers_a_ping(redis):
    test = command_line(redis["healthcheck"]["test"])
    assert "redis-cli" in test and "ping" in test
    assert "PONG" in test, "redis-cli exits 0 on NOAUTH too: the check looks for the answer"
    assert environment(redis).get("REDISCLI_AUTH", "").startswith("${REDIS_PASSWORD")


# ---- the bot ---------------------------------------------------------------------------------------------------


def test_the_bot_is_built_here_and_reads_the_operators_env_file(bot):
    build = bot["build"]
    assert (build if isinstance(build, str) else build.get("context")) in (".", "./")
    assert bot["env_file"] in (".env", [".env"])
    assert bot["restart"] == "unless-stopped"


def test_the_bot_talks_to_the_redis_service_with_its_password(bot):
    url = environment(bot)["REDIS_URL"]
    assert re.fullmatch(r"redis://:\$\{REDIS_PASSWORD[^}]*\}@redis:6379/\d+", url), url


def test_the_bot_starts_after_redis_is_healthy(bot):
    assert bot["depends_on"]["redis"]["condition"] == "service_healthy"


def test_the_bot_gets_one_nvidia_gpu(bot):
    devices = bot["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]


def test_a_stop_waits_longer_than_the_bots_own_drain_bound(bot):
    drain = Settings.model_fields["shutdown_drain_s"].default
    bound = drain + SHUTDOWN_MARGIN_S  # past it the bot's watchdog exits 1 by itself
    assert bot.get("stop_signal", "SIGTERM") == "SIGTERM"
    assert seconds(bot["stop_grace_period"]) > bound, f"Docker would SIGKILL a drain that may take {bound:.0f} s"


def test_the_healthcheck_asks_the_bots_healthz_on_its_port(bot):
    test = command_line(bot["healthcheck"]["test"])
    assert "/healthz" in test
    assert "HTTP_PORT" in test and "8080" in test
    assert "WEBHOOK_PORT" in test, "in webhook mode /healthz is served on the webhook's port"


def test_models_and_pictures_are_volumes(compose, bot):
    mounts = {target: source for source, target in map(mount, bot["volumes"])}
    assert "/models" in mounts
    assert environment(bot)["PICTURE_DIR"] == "/data/pictures"
    assert mounts["/data/pictures"] in compose["volumes"], "the pictures outlive the container"


def test_seconds_reads_compose_durations():
    assert seconds("150s") == 150 and seconds("2m30s") == 150 and seconds("1h") == 3600
    with pytest.raises(AssertionError):
        seconds("150")


# ---- the image -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dockerfile() -> list[str]:
    """Instructions, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def first(lines: list[str], pattern: str) -> int:
    found = [index for index, line in enumerate(lines) if re.match(pattern, line)]
    assert found, f"no {pattern!r} in the Dockerfile"
    return found[0]


def test_dependencies_are_installed_with_the_gpu_constraints_before_the_code(dockerfile):
    copy_constraints = first(dockerfile, r"COPY .*\bconstraints-gpu\.txt\b")
    install = first(dockerfile, r"RUN .*pip install .*-c constraints-gpu\.txt")
    copy_code = first(dockerfile, r"COPY bot\b")
    assert copy_constraints < install < copy_code
    assert "pyproject.toml" in dockerfile[copy_constraints], "the dependency list is read from pyproject.toml"
    code_install = first(dockerfile, r"RUN pip install --no-deps")
    assert code_install > copy_code, "the code itself, without touching the installed dependencies"


def test_the_image_runs_as_a_user_with_a_healthcheck(dockerfile):
    users = [line.split()[1] for line in dockerfile if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    owned = dockerfile[first(dockerfile, rf"RUN .*chown {users[-1]}")]
    assert "/models" in owned and "/data/pictures" in owned, "the folders it writes are its own"
    assert re.search(r"\bPICTURE_DIR=/data/pictures\b", dockerfile[first(dockerfile, r"ENV ")])
    healthcheck = dockerfile[first(dockerfile, r"HEALTHCHECK ")]
    assert "/healthz" in healthcheck and "HTTP_PORT" in healthcheck
    assert any(re.fullmatch(r"EXPOSE \$\{?HTTP_PORT\}?", line) for line in dockerfile)
    assert 'VOLUME ["/models"]' in dockerfile


def test_the_gpu_pins_are_cuda_12_torch_within_pyprojects_ranges():
    pins = {}
    for line in (REPO / "constraints-gpu.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            requirement = Requirement(line)
            assert len(requirement.specifier) == 1 and next(iter(requirement.specifier)).operator == "=="
            pins[canonical(requirement.name)] = next(iter(requirement.specifier)).version
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["gpu"]]
    assert {"torch", "torchvision", "diffusers", "transformers", "aiogram"} <= pins.keys()
    for requirement in wanted:
        name = canonical(requirement.name)
        if name in pins:
            assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} is outside {requirement}"
    # PyPI's torch 2.11 and later are CUDA 13 builds (R580+ drivers); torchvision 0.25 is the one for torch 2.10.
    assert pins["torch"] == "2.10.0" and pins["torchvision"] == "0.25.0"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# ---- .env.example ----------------------------------------------------------------------------------------------


def env_names(settings: type[BaseSettings]) -> set[str]:
    """The environment variables a settings class reads (its prefix, or a field's own alias)."""
    prefix = settings.model_config.get("env_prefix", "")
    names = set()
    for name, field in settings.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseSettings):
            continue  # a nested tree (Settings.engine): its own fields are its own settings
        alias = field.validation_alias or field.alias
        names.add((alias if isinstance(alias, str) else prefix + name).upper())
    return names


def example_lines() -> dict[str, str]:
    """NAME -> value of every `NAME=value` in .env.example, commented (a default shown) or not."""
    lines = {}
    for line in (REPO / ".env.example").read_text().splitlines():
        match = re.fullmatch(r"#?\s*([A-Z][A-Z0-9_]*)=(.*)", line.strip())
        if match:
            lines[match[1]] = match[2]
    return lines


def test_env_names_mind_the_engines_prefix():
    assert {"BOT_TOKEN", "SHUTDOWN_DRAIN_S"} <= env_names(Settings)
    assert "ENGINE" not in env_names(Settings)
    assert {"ENGINE_MODEL", "ENGINE_MAX_QUEUE"} <= env_names(EngineSettings)
    assert "MODEL" not in env_names(EngineSettings)


def test_every_name_in_env_example_is_a_setting_or_one_compose_reads():
    compose_names = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", (REPO / "compose.yaml").read_text()))
    known = env_names(Settings) | env_names(EngineSettings) | compose_names
    unknown = sorted(set(example_lines()) - known)
    assert not unknown, f".env.example names no setting: {unknown}"


def test_env_example_has_what_an_operator_must_set():
    names = set(example_lines())
    assert {"BOT_TOKEN", "REDIS_PASSWORD", "ALLOWED_USER_IDS", "ADMIN_USER_IDS", "ENGINE_MODEL"} <= names
    assert {"HTTP_PORT", "PICTURE_DIR", "LOG_FORMAT", "SHUTDOWN_DRAIN_S"} <= names


def test_env_example_holds_no_secret():
    lines = example_lines()
    for name in ("BOT_TOKEN", "REDIS_PASSWORD", "WEBHOOK_SECRET"):
        assert lines.get(name, "") == "", f"{name} must be empty in the example"


def test_env_example_values_are_valid_settings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    for name in env_names(Settings) | env_names(EngineSettings):
        monkeypatch.delenv(name, raising=False)
    values = {name: value for name, value in example_lines().items() if value and not value.startswith("<")}
    example = tmp_path / "example.env"
    example.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
    settings = Settings(_env_file=example, bot_token="123:not-a-token", engine=EngineSettings(_env_file=example))
    assert settings.http_port == int(values["HTTP_PORT"])
    assert settings.engine.model == values["ENGINE_MODEL"]


# ---- the fleet's workers (README "Running on several GPUs") -------------------------------------------------


def test_a_worker_is_the_same_image_running_the_worker_with_its_gpus(worker, bot):
    assert worker["image"] == bot["image"] and command_line(worker["command"]) == "python -m engine.worker"
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]
    assert environment(worker)["ENGINE_DEVICE"] == "cuda", "each replica takes a GPU no other worker holds"


def test_workers_start_only_with_the_fleet_profile_and_can_be_scaled(worker):
    assert worker["profiles"] == ["fleet"], "a one-GPU install runs the engine in the bot"
    assert "container_name" not in worker and "ports" not in worker, "--scale worker=N needs neither"


def test_a_worker_talks_to_the_same_redis_as_the_bot(worker, bot):
    assert environment(worker)["REDIS_URL"] == environment(bot)["REDIS_URL"]
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"


def test_a_worker_is_healthy_while_it_beats_and_stops_after_its_drain(worker):
    from engine.fleet.worker import WorkerSettings

    assert environment(worker)["HEALTH_FILE"], "the worker touches the file its healthcheck reads"
    assert "os.environ['HEALTH_FILE']" in command_line(worker["healthcheck"]["test"]), "one place names the file"
    drain = WorkerSettings.model_fields["shutdown_drain_s"].default
    assert seconds(worker["stop_grace_period"]) > drain
