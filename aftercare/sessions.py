"""Signed-in browser sessions, kept in the database so every API process shares them.

Rows are keyed by the SHA-256 of the session id (the cookie), so a copy of the table signs no one
in. An expired session is deleted when read, and the housekeeping sweep deletes the rest.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from aftercare.db import write_transaction
from aftercare.tables import WebSession


async def save_session(session_id: str, value: bytes, *, expires_at: dt.datetime) -> None:
    """Store (or replace) a session's data until `expires_at`."""
    async with write_transaction():
        await WebSession.insert(
            WebSession(key=_key(session_id), value=value, expires_at=expires_at)
        ).on_conflict(
            target=WebSession.key,
            action="DO UPDATE",
            values=[WebSession.value, WebSession.expires_at],
        )


async def load_session(session_id: str, *, now: dt.datetime) -> bytes | None:
    """A live session's data; None when unknown or expired (and then it is deleted)."""
    row = (
        await WebSession.select(WebSession.value, WebSession.expires_at)
        .where(WebSession.key == _key(session_id))
        .first()
    )
    if row is None:
        return None
    if row["expires_at"] <= now:
        await delete_session(session_id)
        return None
    return bytes(row["value"])


async def session_expires_at(session_id: str) -> dt.datetime | None:
    row = (
        await WebSession.select(WebSession.expires_at)
        .where(WebSession.key == _key(session_id))
        .first()
    )
    return None if row is None else row["expires_at"]


async def delete_session(session_id: str) -> None:
    await WebSession.delete().where(WebSession.key == _key(session_id))


async def delete_every_session() -> None:
    """Sign everyone out."""
    await WebSession.delete(force=True)


async def delete_expired_sessions(*, now: dt.datetime) -> None:
    # A read first: most rounds find nothing, and a read takes no write lock on SQLite.
    if await WebSession.exists().where(WebSession.expires_at <= now):
        await WebSession.delete().where(WebSession.expires_at <= now)


def _key(session_id: str) -> str:
    # Session ids carry 256 random bits: a fast hash is enough.
    return hashlib.sha256(session_id.encode()).hexdigest()
