"""The database engine, write transactions and the errors both engines raise."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType

from aftercare.settings import SettingsError


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


def write_transaction() -> Any:
    """A transaction for read-then-write work.

    SQLite's default DEFERRED transactions fail at once with "database is locked" when two of
    them upgrade to writers; IMMEDIATE ones queue on the busy timeout instead.
    """
    db = engine()
    if isinstance(db, SQLiteEngine):
        return db.transaction(transaction_type=TransactionType.immediate)
    return db.transaction()


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
