"""Liveness and readiness probes (no auth: orchestrators call them)."""

from __future__ import annotations

import asyncio

import msgspec
from litestar import Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec

from aftercare.db import database_is_reachable
from api.deps import BrokerCheck, HousekeepingRounds


class Health(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    status: str
    database: str | None = None
    broker: str | None = None
    housekeeping: str | None = None
    # Seconds since the outbox relay and analysis sweep last completed a round.
    housekeeping_age_seconds: float | None = None


@get("/health", summary="Liveness: the process answers", tags=["health"])
async def health() -> Health:
    return Health(status="ok")


@get(
    "/ready",
    summary="Readiness: database and broker reachable, housekeeping rounds succeeding",
    tags=["health"],
    responses={503: ResponseSpec(Health, description="Something is unreachable or stale")},
)
async def ready(
    housekeeping: NamedDependency[HousekeepingRounds],
    broker_check: NamedDependency[BrokerCheck],
) -> Response[Health]:
    database_ok = await database_is_reachable()
    broker_ok = await asyncio.to_thread(broker_check)
    housekeeping_ok = not housekeeping.is_stale
    all_ok = database_ok and broker_ok and housekeeping_ok
    body = Health(
        status="ok" if all_ok else "unavailable",
        database="ok" if database_ok else "unreachable",
        broker="ok" if broker_ok else "unreachable",
        housekeeping="ok" if housekeeping_ok else "stale",
        housekeeping_age_seconds=round(housekeeping.seconds_since_success(), 1),
    )
    return Response(body, status_code=200 if all_ok else 503)
