"""Litestar's server-side sessions over the database (aftercare.sessions), so every API process
shares them; a new session id on every sign-in; no write for a request that changed nothing."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from litestar.middleware.session.server_side import (
    ServerSideSessionBackend,
    ServerSideSessionConfig,
)
from litestar.stores.base import Store
from litestar.types import Empty, Message, ScopeSession

from aftercare.clock import Clock
from aftercare.sessions import (
    delete_every_session,
    delete_session,
    load_session,
    save_session,
    session_expires_at,
)
from aftercare.sign_in import SESSION_LIFETIME

SESSION_STORE = "web_sessions"
SESSION_COOKIE = "aftercare_session"
# Paths that never use a session: the bearer-token API, survey links, probes and files.
SESSIONLESS_PATHS = ["^/api/", "^/s/", "^/static/", "^/health$", "^/ready$", "^/schema"]
_NEW_SESSION_ID = "aftercare_new_session_id"
_LOADED_SESSION = "aftercare_loaded_session"


class DatabaseSessionStore(Store):
    """A Litestar Store of sessions in the WebSession table; time from the app's clock."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    async def set(
        self, key: str, value: str | bytes, expires_in: int | dt.timedelta | None = None
    ) -> None:
        if isinstance(value, str):
            value = value.encode()
        lifetime = SESSION_LIFETIME if expires_in is None else _timedelta(expires_in)
        await save_session(key, value, expires_at=self.clock() + lifetime)

    async def get(self, key: str, renew_for: int | dt.timedelta | None = None) -> bytes | None:
        # Sessions last a fixed time from sign-in, so reading one never writes (renew_for).
        return await load_session(key, now=self.clock())

    async def delete(self, key: str) -> None:
        await delete_session(key)

    async def delete_all(self) -> None:
        await delete_every_session()

    async def exists(self, key: str) -> bool:
        return await self.get(key) is not None

    async def expires_in(self, key: str) -> int | None:
        expires_at = await session_expires_at(key)
        if expires_at is None:
            return None
        return int((expires_at - self.clock()).total_seconds())


def _timedelta(expires_in: int | dt.timedelta) -> dt.timedelta:
    return expires_in if isinstance(expires_in, dt.timedelta) else dt.timedelta(seconds=expires_in)


class SignInSessionBackend(ServerSideSessionBackend):
    """Writes a session only when it changed; an empty one sets no cookie; `rotate_session_id`
    gives the next session a new id (against session fixation)."""

    def get_session_id(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        rotated = connection.scope.get("state", {}).get(_NEW_SESSION_ID)
        return rotated if isinstance(rotated, str) else super().get_session_id(connection)

    async def load_from_connection(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> dict[str, Any]:
        session_id = connection.cookies.get(self.config.key)
        if not session_id:
            return {}
        data = await self.get(session_id, store=self.config.get_store_from_app(connection.app))
        if data is None:
            return {}
        connection.scope.setdefault("state", {})[_LOADED_SESSION] = data
        return self.deserialize_data(data)

    async def store_in_message(
        self,
        scope_session: ScopeSession,
        message: Message,
        connection: ASGIConnection[Any, Any, Any, Any],
    ) -> None:
        state = connection.scope.get("state", {})
        had_cookie = bool(connection.cookies.get(self.config.key))
        if scope_session is Empty or not scope_session:
            if had_cookie:  # signed out, or a stale cookie: delete the row, expire the cookie
                await super().store_in_message(Empty, message, connection)
            return
        rotated = _NEW_SESSION_ID in state
        if rotated and had_cookie:
            await delete_session(connection.cookies[self.config.key])
        elif state.get(_LOADED_SESSION) == self.serialize_data(scope_session, connection.scope):
            return
        await super().store_in_message(scope_session, message, connection)


@dataclass
class SignInSessionConfig(ServerSideSessionConfig):
    _backend_class = SignInSessionBackend


def session_config(*, secure: bool) -> SignInSessionConfig:
    """HttpOnly, SameSite=Lax, Secure when the public URL is https; lasting SESSION_LIFETIME."""
    return SignInSessionConfig(
        key=SESSION_COOKIE,
        store=SESSION_STORE,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=secure,
        exclude=SESSIONLESS_PATHS,
    )


def rotate_session_id(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """The session this response saves gets a new id; the old one is deleted."""
    connection.scope.setdefault("state", {})[_NEW_SESSION_ID] = secrets.token_hex(32)
