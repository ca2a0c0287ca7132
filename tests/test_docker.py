"""docker/: the compose file and the Dockerfile agree with the code (no Docker engine needed)."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from aftercare.settings import setting_env_names

ROOT = Path(__file__).resolve().parents[1]
DOCKER_DIR = ROOT / "docker"
COMPOSE_FILE = DOCKER_DIR / "compose.yaml"
DOCKERFILE = DOCKER_DIR / "Dockerfile"
AFTERCARE_SCRIPT = Path(sys.executable).parent / "aftercare"
APP_SERVICES = ("api", "worker")
BUILD_INPUTS = ("pyproject.toml", "README.md", "aftercare", "api", "worker", "nlp", "web")


@cache
def compose() -> dict[str, Any]:
    parsed: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return parsed


def service(name: str) -> dict[str, Any]:
    definition: dict[str, Any] = compose()["services"][name]
    return definition


def environment(name: str) -> dict[str, Any]:
    variables: dict[str, Any] = service(name).get("environment", {})
    return variables


def dockerfile_instructions(keyword: str) -> list[str]:
    """The arguments of each `keyword` instruction, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    prefix = keyword + " "
    return [line[len(prefix) :].strip() for line in joined.splitlines() if line.startswith(prefix)]


def dockerfile_env() -> dict[str, str]:
    pairs: dict[str, str] = {}
    for arguments in dockerfile_instructions("ENV"):
        for pair in shlex.split(arguments):
            name, _, value = pair.partition("=")
            pairs[name] = value
    return pairs


def dockerfile_cmd() -> list[str]:
    [cmd] = dockerfile_instructions("CMD")
    command: list[str] = json.loads(cmd)
    return command


def service_command(name: str) -> list[str]:
    command = service(name)["command"]
    return shlex.split(command) if isinstance(command, str) else list(command)


@cache
def cli_help(*subcommand: str) -> str:
    """`aftercare [subcommand] --help`, through the installed console script."""
    result = subprocess.run(
        [str(AFTERCARE_SCRIPT), *subcommand, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"aftercare {' '.join(subcommand)} --help: {result.stderr}"
    return result.stdout


def assert_runs_with_the_real_cli(command: list[str]) -> None:
    assert command[0] == "aftercare", command
    subcommand = command[1]
    help_text = cli_help(subcommand)
    for flag in (word.split("=")[0] for word in command[2:] if word.startswith("--")):
        assert re.search(rf"(^|\s){re.escape(flag)}\b", help_text), (
            f"aftercare {subcommand} has no {flag}"
        )


def test_the_compose_file_has_the_database_broker_api_and_worker() -> None:
    assert set(compose()["services"]) >= {"postgres", "rabbitmq", "api", "worker"}


def test_every_aftercare_variable_in_compose_is_a_real_setting() -> None:
    known = setting_env_names()
    for name, definition in compose()["services"].items():
        for variable in definition.get("environment", {}):
            if variable.startswith("AFTERCARE_"):
                assert variable in known, f"{name}: {variable} is not a setting"


def test_every_environment_value_is_text_not_a_yaml_boolean_or_number() -> None:
    # YAML reads an unquoted `off` as false; compose would then pass "false".
    for name, definition in compose()["services"].items():
        for variable, value in definition.get("environment", {}).items():
            assert value is None or isinstance(value, str), f"{name}: {variable}={value!r}"


def test_the_api_and_the_worker_share_the_database_and_the_broker() -> None:
    for variable in ("AFTERCARE_DATABASE_URL", "AFTERCARE_BROKER_URL"):
        assert environment("api")[variable] == environment("worker")[variable]
    assert environment("api")["AFTERCARE_EMBEDDED_WORKER"] == "off"


def test_the_database_url_points_at_the_postgres_service() -> None:
    url = urlsplit(environment("api")["AFTERCARE_DATABASE_URL"])
    postgres = service("postgres")["environment"]
    assert url.scheme == "postgresql"
    assert (url.hostname, url.port) == ("postgres", 5432)
    assert (url.username, url.password) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
    )
    assert url.path == "/" + postgres["POSTGRES_DB"]


def test_the_broker_url_points_at_the_rabbitmq_service() -> None:
    url = urlsplit(environment("api")["AFTERCARE_BROKER_URL"])
    assert (url.scheme, url.hostname, url.port) == ("amqp", "rabbitmq", 5672)


@pytest.mark.parametrize("variable", ["AFTERCARE_API_TOKEN", "AFTERCARE_SECRET_KEY"])
def test_the_api_token_and_secret_key_must_come_from_the_shell(variable: str) -> None:
    assert environment("api")[variable].startswith("${" + variable + ":?")
    assert variable not in environment("worker")


@pytest.mark.parametrize("name", APP_SERVICES)
def test_each_app_command_parses_with_the_real_cli(name: str) -> None:
    assert_runs_with_the_real_cli(service_command(name))


def test_the_images_default_command_serves_with_the_real_cli() -> None:
    command = dockerfile_cmd()
    assert command[:2] == ["aftercare", "serve"]
    assert_runs_with_the_real_cli(command)


def test_the_api_waits_for_a_healthy_database_and_broker() -> None:
    depends_on = service("api")["depends_on"]
    for dependency in ("postgres", "rabbitmq"):
        assert depends_on[dependency]["condition"] == "service_healthy"
        assert service(dependency)["healthcheck"]["test"]


def test_the_api_publishes_port_8000() -> None:
    assert "8000:8000" in service("api")["ports"]
    assert environment("api")["AFTERCARE_PORT"] == "8000"
    assert "EXPOSE 8000" in DOCKERFILE.read_text().splitlines()


def test_the_worker_has_no_ports_and_no_web_healthcheck() -> None:
    worker = service("worker")
    assert "ports" not in worker
    assert "container_name" not in worker, "a fixed name cannot be scaled"
    assert worker["healthcheck"] == {"disable": True}


def test_the_healthcheck_asks_a_path_the_app_serves() -> None:
    from api.app import create_app
    from tests.conftest import TEST_SETTINGS

    [healthcheck] = dockerfile_instructions("HEALTHCHECK")
    paths = set(re.findall(r"http://[^/]+(/[\w/-]*)", healthcheck))
    assert paths == {"/health"}
    assert "/health" in {route.path for route in create_app(TEST_SETTINGS).routes}


def test_the_dockerfile_sets_only_real_settings_and_runs_offline() -> None:
    env = dockerfile_env()
    known = setting_env_names()
    assert [name for name in env if name.startswith("AFTERCARE_") and name not in known] == []
    assert env["HF_HUB_OFFLINE"] == env["TRANSFORMERS_OFFLINE"] == "1"


def test_the_image_runs_as_a_user_not_root() -> None:
    [user] = dockerfile_instructions("USER")
    assert user not in ("root", "0")


def test_the_image_installs_torch_from_the_cpu_index() -> None:
    text = DOCKERFILE.read_text()
    assert "FROM python:3.11-slim" in text
    assert "https://download.pytorch.org/whl/cpu" in text


def test_the_build_context_and_dockerfile_exist() -> None:
    build = service("api")["build"]
    context = (DOCKER_DIR / build["context"]).resolve()
    assert context == ROOT
    assert (context / build["dockerfile"]).resolve() == DOCKERFILE
    assert service("worker")["image"] == service("api")["image"]


def test_the_dockerignore_keeps_what_pip_install_needs() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for path in BUILD_INPUTS:
        assert (ROOT / path).exists(), path
        excluded = [pattern for pattern in patterns if fnmatch.fnmatch(path, pattern)]
        assert excluded == [], f"{path} is excluded by {excluded}"
    assert ".git" in patterns and ".venv" in patterns
