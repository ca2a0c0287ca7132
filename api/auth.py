"""Bearer-token auth for the API (one token from settings until roles arrive)."""

from __future__ import annotations

import hmac

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler

from aftercare.settings import Settings
from aftercare.task_changes import Actor


def require_api_token(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """Guard: the request must carry `Authorization: Bearer <AFTERCARE_API_TOKEN>`."""
    settings: Settings = connection.app.state.settings
    scheme, _separator, token = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise NotAuthorizedException(
            "Missing bearer token.", headers={"WWW-Authenticate": "Bearer"}
        )
    if not hmac.compare_digest(token.strip().encode(), settings.api_token.encode()):
        raise NotAuthorizedException(
            "Invalid bearer token.", headers={"WWW-Authenticate": "Bearer"}
        )


# Until accounts arrive, every change is made with the bootstrap admin token.
BOOTSTRAP_ACTOR = Actor(label="admin token")


def provide_actor() -> Actor:
    """Who is calling, as the events their changes write will name them."""
    return BOOTSTRAP_ACTOR
