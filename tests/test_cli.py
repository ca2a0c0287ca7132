"""The `aftercare` console script, run as a user runs it: a separate process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import TEST_DIR, fresh_database_url

AFTERCARE = str(Path(sys.executable).parent / "aftercare")


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AFTERCARE, *args], env=env, capture_output=True, text=True, timeout=300, cwd=TEST_DIR
    )


def _environment(database_url: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")}
    env.update(AFTERCARE_DATABASE_URL=database_url, AFTERCARE_DATA_DIR=str(data_dir))
    return env


def test_demo_migrates_seeds_and_prints_the_urls_and_token(tmp_path: Path) -> None:
    env = _environment(fresh_database_url("aftercare_cli_demo"), tmp_path / "var")
    first = _cli("demo", env=env)
    assert first.returncode == 0, first.stderr
    token = (tmp_path / "var" / "api-token").read_text().strip()
    assert f"API token:      {token}" in first.stdout
    urls = re.findall(r"http://127\.0\.0\.1:8000/s/[A-Za-z0-9_-]+", first.stdout)
    assert len(urls) == 3
    assert "http://127.0.0.1:8000/schema" in first.stdout

    again = _cli("demo", env=env)
    assert again.returncode == 0, again.stderr
    assert re.findall(r"http://127\.0\.0\.1:8000/s/[A-Za-z0-9_-]+", again.stdout) == urls


def test_migrate_runs_twice_without_harm(tmp_path: Path) -> None:
    env = _environment(fresh_database_url("aftercare_cli_migrate"), tmp_path)
    assert _cli("migrate", env=env).returncode == 0
    second = _cli("migrate", env=env)
    assert second.returncode == 0, second.stderr
    assert "No migrations need to be run" in second.stdout


def test_a_bad_setting_gets_a_clear_message(tmp_path: Path) -> None:
    env = _environment("mysql://nope", tmp_path)
    result = _cli("migrate", env=env)
    assert result.returncode == 2
    assert "AFTERCARE_DATABASE_URL" in result.stderr
    env = {**_environment("sqlite:///x.sqlite", tmp_path), "AFTERCARE_BROKER_URL": "kafka://x"}
    result = _cli("migrate", env=env)
    assert result.returncode == 2 and "AFTERCARE_BROKER_URL" in result.stderr
    env = {**_environment("sqlite:///x.sqlite", tmp_path), "AFTERCARE_PORT": "eighty"}
    result = _cli("migrate", env=env)
    assert result.returncode == 2 and "port" in result.stderr


def test_the_help_lists_every_command() -> None:
    result = subprocess.run([AFTERCARE, "--help"], capture_output=True, text=True, timeout=60)
    for command in ("serve", "worker", "migrate", "demo", "housekeeping"):
        assert command in result.stdout


def test_migrate_creates_the_fallback_owner_or_refuses_an_address_that_is_not_one(
    tmp_path: Path,
) -> None:
    env = _environment(fresh_database_url("aftercare_cli_fallback"), tmp_path)
    created = _cli("migrate", env={**env, "AFTERCARE_FALLBACK_OWNER_EMAIL": "Desk@Example.org"})
    assert created.returncode == 0, created.stderr
    assert "fallback owner: created Desk@Example.org" in created.stdout
    again = _cli("migrate", env={**env, "AFTERCARE_FALLBACK_OWNER_EMAIL": "desk@example.org"})
    assert "fallback owner: desk@example.org" in again.stdout

    refused = _cli("migrate", env={**env, "AFTERCARE_FALLBACK_OWNER_EMAIL": "not an email"})
    assert refused.returncode == 2
    assert "AFTERCARE_FALLBACK_OWNER_EMAIL is not an email" in refused.stderr
