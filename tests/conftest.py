"""Fixtures: a real database (SQLite, or PostgreSQL) and a real broker (stub, RabbitMQ, Redis).

AFTERCARE_TEST_DATABASE_URL and AFTERCARE_TEST_BROKER_URL pick the servers (the test command
runs the suite once on SQLite + stub and once on PostgreSQL + RabbitMQ). Tests build their
apps from TEST_SETTINGS, as the CLI builds them from the environment: nothing here sets the
environment for the product to read.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Awaitable, Iterator
from typing import Any, TypeVar

import msgspec
import pytest

from aftercare.clock import Clock, FixedClock, system_clock
from aftercare.db import bind_engine, create_engine, engine
from aftercare.schema import migrate, seed_defaults
from aftercare.settings import Settings
from aftercare.tables import ALL_TABLES
from tests.helpers import ApiClient

T = TypeVar("T")

TEST_DIR = tempfile.mkdtemp(prefix="aftercare-tests-")
atexit.register(shutil.rmtree, TEST_DIR, ignore_errors=True)
TEST_DATABASE_URL = os.environ.get("AFTERCARE_TEST_DATABASE_URL", "sqlite://")
TEST_BROKER_URL = os.environ.get("AFTERCARE_TEST_BROKER_URL", "stub://")
ON_POSTGRES = TEST_DATABASE_URL.startswith("postgres")
API_TOKEN = "test-token"


def _fresh_postgres_database(server_url: str, name: str) -> str:
    """Create an empty database `name` on the server; return its URL."""
    import asyncpg

    async def recreate() -> None:
        connection = await asyncpg.connect(server_url)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    asyncio.run(recreate())
    return server_url.rsplit("/", 1)[0] + "/" + name


def fresh_database_url(name: str) -> str:
    """A new, empty database of the kind this run tests: a SQLite file or a PostgreSQL db."""
    if ON_POSTGRES:
        return _fresh_postgres_database(TEST_DATABASE_URL, name)
    return f"sqlite:///{TEST_DIR}/{name}.sqlite"


TEST_SETTINGS = Settings(
    database_url=fresh_database_url("aftercare_test"),
    broker_url=TEST_BROKER_URL,
    # A real dramatiq.Worker runs inside the test app, whatever the broker.
    embedded_worker="on",
    api_token=API_TOKEN,
    data_dir=TEST_DIR,
    housekeeping_interval_seconds=0.5,
    # Discovery runs when a test asks for it, not on the housekeeping schedule.
    discovery_interval_hours=0,
    log_level="WARNING",
)
# Domain functions called straight from tests run on this engine; apps bind their own.
bind_engine(create_engine(TEST_SETTINGS.database_url))


def settings_with(**changes: Any) -> Settings:
    """TEST_SETTINGS with some fields changed."""
    return msgspec.structs.replace(TEST_SETTINGS, **changes)


def cli_environment(**variables: str) -> dict[str, str]:
    """This process's environment without any AFTERCARE_ setting, plus `variables`: what a
    command run as a subprocess should read."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")}
    return {**env, **variables}


@pytest.fixture(scope="session")
def migrated_database() -> None:
    asyncio.run(migrate())
    _purge_broker_queues()


@pytest.fixture
def db(migrated_database: None) -> None:
    """An empty, migrated database (only the default survey and topics)."""
    empty_database()


@pytest.fixture(scope="module")
def module_db(migrated_database: None) -> None:
    """An empty, migrated database that the tests of one module share (one live server)."""
    empty_database()


def empty_database() -> None:
    """Delete every row, then seed the defaults again (for fixtures of a wider scope)."""
    asyncio.run(_empty_database())


async def _empty_database() -> None:
    for table in reversed(ALL_TABLES):
        await engine().run_ddl(f'DELETE FROM "{table._meta.tablename}"')
    await seed_defaults()


@pytest.fixture
def api(db: None) -> Iterator[ApiClient]:
    """The whole app over HTTP (Litestar's test client), with its embedded worker running."""
    with api_client() as client:
        yield client


# Where pinned clocks start: a Tuesday morning, cases closing.
PINNED_NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock() -> FixedClock:
    """A clock pinned at PINNED_NOW, moved by the test (deadlines, away times, SLAs)."""
    return FixedClock(PINNED_NOW)


@contextlib.contextmanager
def api_client(
    settings: Settings = TEST_SETTINGS, clock: Clock = system_clock
) -> Iterator[ApiClient]:
    """The whole app over HTTP, built from `settings` on `clock`."""
    from api.app import create_app

    with ApiClient.for_app(create_app(settings, clock=clock), token=API_TOKEN) as client:
        yield client


def _purge_broker_queues() -> None:
    """Messages left by an earlier run would only add noise; start from empty queues."""
    from worker.main import build_actors

    actors = build_actors(TEST_SETTINGS, engine())
    for actor in (
        actors.analyse_responses,
        actors.discover_themes,
        actors.send_mail,
        actors.mark_overdue_tasks,
    ):
        actors.broker.declare_queue(actor.queue_name)
        flush = getattr(actors.broker, "flush", None)
        if flush is not None:
            flush(actor.queue_name)


def run(awaitable: Awaitable[T]) -> T:
    """Run a domain coroutine or a Piccolo query from a sync test."""

    async def wait() -> T:
        return await awaitable

    return asyncio.run(wait())
