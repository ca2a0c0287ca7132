"""The database engine, write transactions and the errors both engines raise."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType

from aftercare.settings import SettingsError

log = logging.getLogger(__name__)


def create_engine(database_url: str) -> Engine[Any]:
    """An engine for a sqlite:/// path or a postgresql:// URL."""
    if database_url.startswith("sqlite:///"):
        path = Path(database_url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        # sqlite3's busy timeout; generous because writers queue behind IMMEDIATE transactions.
        return SQLiteEngine(path=str(path), timeout=10)
    if database_url.startswith(("postgresql://", "postgres://")):
        return PostgresEngine(config={"dsn": database_url})
    raise SettingsError(
        f"AFTERCARE_DATABASE_URL must start with sqlite:/// or postgresql:// (got {database_url!r})"
    )


def engine() -> Engine[Any]:
    """The engine the tables are bound to (Piccolo's configured DB)."""
    from aftercare.tables import Team

    db = Team._meta.db
    assert db is not None
    return db


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


async def database_is_reachable() -> bool:
    try:
        await engine().run_ddl("SELECT 1")
    except Exception:
        return False
    return True
