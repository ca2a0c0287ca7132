"""Liveness and readiness probes (no auth: orchestrators call them)."""

from __future__ import annotations

import asyncio

import msgspec
from litestar import Response, get

from aftercare.db import database_is_reachable
from worker.broker import broker


class Health(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    status: str
    database: str | None = None
    broker: str | None = None


@get("/health", summary="Liveness: the process answers", tags=["health"])
async def health() -> Health:
    return Health(status="ok")


@get("/ready", summary="Readiness: database and broker reachable", tags=["health"])
async def ready() -> Response[Health]:
    database_ok = await database_is_reachable()
    broker_ok = await asyncio.to_thread(broker_is_reachable)
    body = Health(
        status="ok" if database_ok and broker_ok else "unavailable",
        database="ok" if database_ok else "unreachable",
        broker="ok" if broker_ok else "unreachable",
    )
    return Response(body, status_code=200 if database_ok and broker_ok else 503)


def broker_is_reachable() -> bool:
    """Ask the broker something cheap; the stub broker is always there."""
    try:
        kind = type(broker).__name__
        if kind == "RabbitmqBroker":
            broker.get_queue_message_counts("analysis")  # type: ignore[attr-defined]
        elif kind == "RedisBroker":
            broker.client.ping()  # type: ignore[attr-defined]
    except Exception:
        return False
    return True
