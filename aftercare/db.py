"""The database engine, write transactions and the errors both engines raise."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypeVar

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType
from piccolo.query.methods.select import Select

from aftercare.settings import SettingsError

log = logging.getLogger(__name__)

SelectT = TypeVar("SelectT", bound=Select[Any])


def create_engine(database_url: str) -> Engine[Any]:
    """An engine for a sqlite:/// path or a postgresql:// URL."""
    if database_url.startswith("sqlite:///"):
        path = Path(database_url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        # sqlite3's busy timeout; generous because writers queue behind IMMEDIATE transactions.
        return SQLiteEngine(path=str(path), timeout=10)
    if database_url.startswith(("postgresql://", "postgres://")):
        return PooledPostgresEngine(config={"dsn": database_url})
    raise SettingsError(
        f"AFTERCARE_DATABASE_URL must start with sqlite:/// or postgresql:// (got {database_url!r})"
    )


class PooledPostgresEngine(PostgresEngine):
    """PostgreSQL with one connection pool per event loop.

    An asyncpg pool belongs to the loop that made it, so the web server's loop and a worker's
    loop each start their own (`start_pool`); queries on a loop without one open a connection
    each, as Piccolo does without a pool.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        self._pools: dict[asyncio.AbstractEventLoop, Any] = {}
        super().__init__(config=config)

    @property
    def pool(self) -> Any:
        loop = _running_loop()
        return self._pools.get(loop) if loop is not None else None

    @pool.setter
    def pool(self, value: Any) -> None:
        loop = _running_loop()
        if loop is None:
            return  # Piccolo's constructor clears the pool before any loop runs
        if value is None:
            self._pools.pop(loop, None)
        else:
            self._pools[loop] = value

    async def start_pool(self, max_size: int) -> None:
        """A pool for the running loop; it connects lazily, so a database that is down now
        delays the first queries instead of the process start."""
        if self.pool is None:
            await self.start_connection_pool(min_size=0, max_size=max_size)

    async def close_pool(self) -> None:
        if self.pool is not None:
            await self.close_connection_pool()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def bind_engine(db: Engine[Any]) -> None:
    """Make `db` the engine of every table and of Piccolo's migrations.

    The composition root calls this at start-up (the API's create_app, the worker's start);
    Piccolo looks its engine up in aftercare.piccolo_conf, so that is where it is kept.
    """
    from aftercare import piccolo_conf
    from aftercare.tables import ALL_TABLES

    piccolo_conf.DB = db
    for table in ALL_TABLES:
        table._meta.db = db


def engine() -> Engine[Any]:
    """The engine bound at start-up (Piccolo's own CLI gets one from the environment)."""
    from aftercare import piccolo_conf

    db: Engine[Any] = piccolo_conf.DB
    return db


async def start_pool(db: Engine[Any], max_size: int) -> None:
    """Start `db`'s connection pool on the running loop, where it has one (PostgreSQL)."""
    if isinstance(db, PooledPostgresEngine):
        await db.start_pool(max_size)


async def close_pool(db: Engine[Any]) -> None:
    if isinstance(db, PooledPostgresEngine):
        await db.close_pool()


@contextlib.asynccontextmanager
async def write_transaction() -> AsyncIterator[None]:
    """A transaction for read-then-write work, which never outlives its block.

    SQLite's default DEFERRED transactions fail at once with "database is locked" when two of
    them upgrade to writers; IMMEDIATE ones queue on the busy timeout instead.

    When the connection dies inside the block, Piccolo's rollback raises and leaves the dead
    transaction current in this context, so every later query of a long-lived task would reuse
    it. The exit here puts the outer transaction back and discards the connection.
    """
    db = engine()
    outer = db.current_transaction.get()
    transaction = (
        db.transaction(transaction_type=TransactionType.immediate)
        if isinstance(db, SQLiteEngine)
        else db.transaction()
    )
    try:
        async with transaction:
            yield
    finally:
        if db.current_transaction.get() is not outer:
            db.current_transaction.set(outer)
            await _discard_connection(db, transaction)


def locking_rows(query: SelectT) -> SelectT:
    """`query`, locking the rows it reads against other writers until the transaction ends.

    SQLite has no row locks, and needs none: its IMMEDIATE write transactions run one at a time.
    NO KEY UPDATE still lets other transactions insert rows that refer to the locked ones.
    """
    if query.engine_type == "sqlite":
        return query
    return query.lock_rows("NO KEY UPDATE")


async def _discard_connection(db: Engine[Any], transaction: Any) -> None:
    """Close (or hand back to the pool) a connection whose transaction could not end."""
    connection = getattr(transaction, "connection", None)
    if connection is None:
        return
    log.warning("discarding a database connection that died inside a transaction")
    with contextlib.suppress(Exception):
        if isinstance(db, PostgresEngine):
            connection.terminate()
            if db.pool is not None:
                await db.pool.release(connection)
        else:
            await connection.close()


def is_unique_violation(error: BaseException) -> bool:
    if isinstance(error, sqlite3.IntegrityError):
        return "UNIQUE constraint failed" in str(error)
    try:
        from asyncpg.exceptions import UniqueViolationError
    except ImportError:  # pragma: no cover - asyncpg is a dependency
        return False
    return isinstance(error, UniqueViolationError)


def is_database_busy(error: BaseException) -> bool:
    return isinstance(error, sqlite3.OperationalError) and "database is locked" in str(error)


# sqlite3's words for a database file it cannot use just now.
_SQLITE_UNUSABLE_FILE = (
    "unable to open database file",
    "disk i/o error",
    "readonly database",
    "database or disk is full",
    "file is not a database",
)


def is_database_unreachable(error: BaseException) -> bool:
    """The database is down, restarting, out of connections, or its file cannot be used."""
    if isinstance(error, sqlite3.DatabaseError):
        return any(words in str(error).lower() for words in _SQLITE_UNUSABLE_FILE)
    # Refused, reset, timed out, unknown host; asyncio reports several failed addresses as
    # one plain OSError.
    network = ConnectionError | TimeoutError | socket.gaierror
    if type(error) is OSError or isinstance(error, network):
        return True
    try:
        from asyncpg import exceptions as pg
    except ImportError:  # pragma: no cover - asyncpg is a dependency
        return False
    if isinstance(
        error,
        pg.PostgresConnectionError | pg.OperatorInterventionError | pg.InsufficientResourcesError,
    ):
        return True
    return isinstance(error, pg.InterfaceError) and "connection is closed" in str(error)


# What a caller is told to wait while the database is unreachable (a restart, a failover).
UNREACHABLE_RETRY_AFTER_SECONDS = 30


def is_database_unavailable(error: BaseException) -> bool:
    """Busy or unreachable: the request failed, and the same request a little later may not."""
    return is_database_busy(error) or is_database_unreachable(error)


async def database_is_reachable() -> bool:
    try:
        await engine().run_ddl("SELECT 1")
    except Exception:
        return False
    return True
