#!/usr/bin/env python3
"""The two set-up commands, for a fresh machine with only Python 3.11+.

    python3 dev.py run    install, migrate, seed the demo, serve (SQLite + in-process worker)
    python3 dev.py test   install, run the whole suite (SQLite, then PostgreSQL + RabbitMQ)

Standard library only: this file runs before anything is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import urllib.parse
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
PYTHON = BIN / "python"
INSTALL_STAMP = VENV / ".aftercare-installed"

POSTGRES_URL = os.environ.get(
    "AFTERCARE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
RABBITMQ_URL = os.environ.get(
    "AFTERCARE_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F"
)
REDIS_URL = os.environ.get("AFTERCARE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# The second pass repeats what touches storage and queues; models and pages don't change.
SECOND_PASS_SKIPS = ["--ignore=tests/nlp", "--ignore=tests/web", "--ignore=tests/test_docker.py"]
SECOND_PASS_SKIPS.append("--ignore=tests/faults")  # starts its own servers: once is enough


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="install, migrate, seed the demo and serve")
    test = commands.add_parser("test", help="install and run the whole test suite")
    test.add_argument(
        "--sqlite-only", action="store_true", help="skip the PostgreSQL + broker pass"
    )
    test.add_argument("pytest_args", nargs="*", help="extra arguments for pytest (after --)")
    args = parser.parse_args()

    install()
    if args.command == "run":
        return run_demo()
    return run_tests(args.sqlite_only, args.pytest_args)


def install() -> None:
    """Create .venv and install the project with its test tools, when pyproject changed."""
    if not PYTHON.exists():
        print("Creating .venv ...", flush=True)
        venv.create(VENV, with_pip=True)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if INSTALL_STAMP.exists() and INSTALL_STAMP.read_text() == wanted:
        return
    print(
        "Installing Aftercare and its dependencies into .venv (first time: a few minutes) ...",
        flush=True,
    )
    pip = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[dev,train]"], check=True, cwd=ROOT)
    INSTALL_STAMP.write_text(wanted)


def run_demo() -> int:
    env = {**os.environ}
    env.setdefault("AFTERCARE_FALLBACK_OWNER_EMAIL", "lead@example.com")
    aftercare = str(BIN / "aftercare")
    subprocess.run([aftercare, "demo"], check=True, cwd=ROOT, env=env)
    print(
        "\nServing on the embedded default (SQLite + in-process worker). Ctrl+C stops.\n",
        flush=True,
    )
    os.chdir(ROOT)
    os.execve(aftercare, [aftercare, "serve"], env)
    return 0  # execve does not return


def run_tests(sqlite_only: bool, pytest_args: list[str]) -> int:
    ensure_chromium()
    steps: list[tuple[str, list[str], dict[str, str]]] = [
        ("lint (ruff)", [str(BIN / "ruff"), "check", "."], {}),
        ("types (mypy)", [str(BIN / "mypy")], {}),
        ("tests on SQLite + stub broker", pytest_command(pytest_args), {}),
    ]
    if not sqlite_only:
        missing = [
            name
            for name, url in [
                ("PostgreSQL", POSTGRES_URL),
                ("RabbitMQ", RABBITMQ_URL),
                ("Redis", REDIS_URL),
            ]
            if not reachable(url)
        ]
        if missing:
            print(
                f"dev.py: {', '.join(missing)} not reachable; start them (see README) "
                "or run `python3 dev.py test --sqlite-only`.",
                file=sys.stderr,
            )
            return 2
        steps.append(
            (
                "tests on PostgreSQL + RabbitMQ (and Redis)",
                pytest_command([*SECOND_PASS_SKIPS, *pytest_args]),
                {
                    "AFTERCARE_TEST_DATABASE_URL": POSTGRES_URL,
                    "AFTERCARE_TEST_BROKER_URL": RABBITMQ_URL,
                    "AFTERCARE_TEST_REDIS_URL": REDIS_URL,
                },
            )
        )
    failed = []
    for title, command, extra_env in steps:
        print(f"\n=== {title} ===", flush=True)
        result = subprocess.run(command, cwd=ROOT, env={**os.environ, **extra_env})
        if result.returncode != 0:
            failed.append(title)
    if failed:
        print(f"\nFAILED: {'; '.join(failed)}", file=sys.stderr)
        return 1
    print("\nAll test passes succeeded.")
    return 0


def pytest_command(extra: list[str]) -> list[str]:
    return [str(PYTHON), "-m", "pytest", "-p", "no:cacheprovider", *extra]


def ensure_chromium() -> None:
    """Browser tests drive Debian's chromium; install it when we may (root with apt)."""
    if Path("/usr/bin/chromium").exists():
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("Installing chromium for the browser tests ...", flush=True)
        subprocess.run(["apt-get", "update", "-q"], check=False, stdout=subprocess.DEVNULL)
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "chromium"], check=True, stdout=subprocess.DEVNULL
        )
    else:
        print(
            "dev.py: /usr/bin/chromium is missing (apt-get install chromium); browser tests fail.",
            file=sys.stderr,
        )


def reachable(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), timeout=2):
            return True
    except OSError:
        return False


if __name__ == "__main__":
    raise SystemExit(main())
