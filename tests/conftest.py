"""Fixtures: a real database (SQLite, or PostgreSQL) and a real broker (stub, RabbitMQ, Redis).

The engine and the broker are read from the environment at import, so this module sets the
environment first. AFTERCARE_TEST_DATABASE_URL and AFTERCARE_TEST_BROKER_URL pick the servers
(the test command runs the suite once on SQLite + stub and once on PostgreSQL + RabbitMQ).
"""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import tempfile
from collections.abc import Awaitable
from typing import TypeVar

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


os.environ.update(
    {
        "AFTERCARE_DATABASE_URL": fresh_database_url("aftercare_test"),
        "AFTERCARE_BROKER_URL": TEST_BROKER_URL,
        # A real dramatiq.Worker runs inside the test app, whatever the broker.
        "AFTERCARE_EMBEDDED_WORKER": "on",
        "AFTERCARE_API_TOKEN": API_TOKEN,
        "AFTERCARE_DATA_DIR": TEST_DIR,
        "AFTERCARE_FALLBACK_OWNER_EMAIL": "",
        "AFTERCARE_HOUSEKEEPING_INTERVAL_SECONDS": "0.5",
        # Discovery runs when a test asks for it, not on the housekeeping schedule.
        "AFTERCARE_DISCOVERY_INTERVAL_HOURS": "0",
        "AFTERCARE_LOG_LEVEL": "WARNING",
    }
)

import pytest  # noqa: E402

import aftercare  # noqa: E402, F401
from aftercare.db import engine  # noqa: E402
from aftercare.schema import migrate, seed_defaults  # noqa: E402
from aftercare.tables import ALL_TABLES  # noqa: E402
from tests.helpers import ApiClient  # noqa: E402


@pytest.fixture(scope="session")
def migrated_database() -> None:
    asyncio.run(migrate())
    _purge_broker_queues()


@pytest.fixture
def db(migrated_database: None) -> None:
    """An empty, migrated database (only the default survey and topics)."""

    async def empty() -> None:
        for table in reversed(ALL_TABLES):
            await engine().run_ddl(f'DELETE FROM "{table._meta.tablename}"')
        await seed_defaults()

    asyncio.run(empty())


@pytest.fixture
def api(db: None) -> ApiClient:
    """The whole app over HTTP (Litestar's test client), with its embedded worker running."""
    from api.app import create_app

    with ApiClient.for_app(create_app(), token=API_TOKEN) as client:
        yield client


def _purge_broker_queues() -> None:
    """Messages left by an earlier run would only add noise; start from empty queues."""
    from worker.actors import analyse_responses
    from worker.broker import broker

    for queue in (analyse_responses.queue_name,):
        broker.declare_queue(queue)
        flush = getattr(broker, "flush", None)
        if flush is not None:
            flush(queue)


def run(awaitable: Awaitable[T]) -> T:
    """Run a domain coroutine or a Piccolo query from a sync test."""

    async def wait() -> T:
        return await awaitable

    return asyncio.run(wait())
