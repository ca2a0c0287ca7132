"""Actors: each loads its ids, calls one domain function, and nothing else.

Delivery is at least once, so every actor is idempotent (the domain functions skip work that
is already done, backed by unique constraints).
"""

from __future__ import annotations

import asyncio
from typing import Any

import dramatiq

from aftercare import analysis, themes
from aftercare.outbox import ANALYSE_RESPONSES
from aftercare.tasks import FollowUpPolicy
from aftercare.themes import DISCOVER_THEMES
from worker.broker import broker  # noqa: F401  (sets the broker before any actor exists)
from worker.runtime import runtime


@dramatiq.actor(
    actor_name=ANALYSE_RESPONSES,
    queue_name="analysis",
    max_retries=3,
    min_backoff=1_000,
    time_limit=10 * 60_000,
)
async def analyse_responses(response_ids: list[int]) -> None:
    """Analyse a batch of survey responses and open follow-up tasks for the negative ones."""
    await analysis.analyse_responses(
        response_ids,
        runtime.get_analyser(),
        policy=FollowUpPolicy.from_settings(runtime.get_settings()),
        clock=runtime.clock,
    )


@dramatiq.actor(
    actor_name=DISCOVER_THEMES,
    queue_name="discovery",
    max_retries=2,
    time_limit=60 * 60_000,
)
async def discover_themes(run_id: int) -> None:
    """Cluster recent comment sentences into themes (a scheduled batch job)."""
    await themes.run_discovery(run_id, runtime.get_theme_finder(), clock=runtime.clock)


ACTORS_BY_KIND: dict[str, dramatiq.Actor[Any, Any]] = {
    ANALYSE_RESPONSES: analyse_responses,
    DISCOVER_THEMES: discover_themes,
}


async def send_to_broker(kind: str, payload: dict[str, Any]) -> None:
    """Send one outbox message to its actor (off the event loop: broker clients block)."""
    actor = ACTORS_BY_KIND[kind]
    await asyncio.to_thread(actor.send, **payload)
