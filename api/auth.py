"""Bearer-token auth for the API: the bootstrap admin token or a personal token, and what the
caller's role allows."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from aftercare.accounts import Caller, caller_for_token
from aftercare.clock import Clock
from aftercare.settings import Settings
from aftercare.tasks import Actor

_CALLER = "aftercare_caller"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def require_api_token(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """Guard: `Authorization: Bearer <token>` names the bootstrap admin or an active user's
    live personal token; a viewer may only read."""
    settings: Settings = connection.app.state.settings
    clock: Clock = connection.app.state.clock
    scheme, _separator, token = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthorizedException(
            "Missing bearer token.", headers={"WWW-Authenticate": "Bearer"}
        )
    caller = await caller_for_token(token.strip(), bootstrap_token=settings.api_token, now=clock())
    if caller is None:
        raise NotAuthorizedException(
            "Invalid bearer token.", headers={"WWW-Authenticate": "Bearer"}
        )
    if connection.scope.get("method", "GET") not in READ_METHODS and not caller.may_change:
        raise PermissionDeniedException(f"A {caller.role} may read, not change anything.")
    connection.scope.setdefault("state", {})[_CALLER] = caller


def require_admin(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """Guard, after require_api_token: only admins."""
    if caller_of(connection).role != "admin":
        raise PermissionDeniedException("Only an admin may do this.")


def caller_of(connection: ASGIConnection) -> Caller:
    caller: Caller = connection.scope["state"][_CALLER]
    return caller


def provide_caller(request: Request[Any, Any, Any]) -> Caller:
    return caller_of(request)


def provide_actor(request: Request[Any, Any, Any]) -> Actor:
    """Who is calling, as the events their changes write will name them."""
    return caller_of(request).actor
