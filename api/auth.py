"""Bearer-token auth for the API: the bootstrap admin token or a personal token, and what the
caller's role allows."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from aftercare.accounts import Caller, Role, caller_for_token
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


class RoleGuard:
    """Guard, after require_api_token: the caller's role is one of `roles` (the OpenAPI
    document names them, and docs/api.md "Who may do what" is the whole policy)."""

    def __init__(self, *roles: Role) -> None:
        self.roles = roles

    def __call__(self, connection: ASGIConnection, handler: BaseRouteHandler) -> None:
        caller = caller_of(connection)
        if caller.role not in self.roles:
            raise PermissionDeniedException(
                f"A {caller.role} may not do this (only: {', '.join(self.roles)})."
            )


def require_role(*roles: Role) -> RoleGuard:
    """A guard letting only these roles through (403 for the others)."""
    return RoleGuard(*roles)


# The roles of the policy, by what they may do (docs/api.md, "Who may do what").
EVERYONE: RoleGuard = require_role("admin", "lead", "owner", "viewer")
ADMINS: RoleGuard = require_role("admin")
# Leads curate the taxonomy, root causes and their teams' availability.
CURATORS: RoleGuard = require_role("admin", "lead")
# Reports: cases, responses (a lead: of their teams) and themes; owners see their cases and
# answers through their tasks.
REPORT_READERS: RoleGuard = require_role("admin", "lead", "viewer")
# Work on tasks (within the caller's task scope: another team's task is a 404).
TASK_WORKERS: RoleGuard = require_role("admin", "lead", "owner")
# The admins' users API, which leads read for their teams.
USER_READERS: RoleGuard = require_role("admin", "lead")


def require_admin_or_self(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """Guard: an admin, or the user the path names (their own tokens)."""
    caller = caller_of(connection)
    if caller.role != "admin" and caller.user_id != connection.path_params.get("user_id"):
        raise PermissionDeniedException("Only an admin or the user themselves may do this.")


def caller_of(connection: ASGIConnection) -> Caller:
    caller: Caller = connection.scope["state"][_CALLER]
    return caller


def provide_caller(request: Request[Any, Any, Any]) -> Caller:
    return caller_of(request)


def provide_actor(request: Request[Any, Any, Any]) -> Actor:
    """Who is calling, as the events their changes write will name them."""
    return caller_of(request).actor
