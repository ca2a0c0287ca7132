"""Actors: each loads its ids, calls one domain function, and nothing else.

They are declared on the broker the composition root built, and close over what they need
(settings, clock, the comment analyser): no module-level state. Delivery is at least once, so
every actor is idempotent (the domain functions skip work that is already done, backed by
unique constraints).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dramatiq

from aftercare import analysis, themes
from aftercare.analysis import CommentAnalyser
from aftercare.clock import Clock
from aftercare.outbox import ANALYSE_RESPONSES
from aftercare.settings import Settings
from aftercare.tasks import FollowUpPolicy
from aftercare.themes import DISCOVER_THEMES, ThemeFinder


@dataclass(frozen=True)
class ActorContext:
    """What actors need besides their message. The analyser is loaded on first use."""

    settings: Settings
    clock: Clock
    analyser: Callable[[], CommentAnalyser]
    theme_finder: Callable[[], ThemeFinder]


@dataclass(frozen=True)
class Actors:
    """The actors of one broker, and the send the outbox relay uses to reach them."""

    analyse_responses: dramatiq.Actor[Any, Any]
    discover_themes: dramatiq.Actor[Any, Any]

    @property
    def broker(self) -> dramatiq.Broker:
        broker: dramatiq.Broker = self.analyse_responses.broker
        return broker

    async def send(self, kind: str, payload: dict[str, Any]) -> None:
        """Send one outbox message to its actor (off the event loop: broker clients block)."""
        actor = {ANALYSE_RESPONSES: self.analyse_responses, DISCOVER_THEMES: self.discover_themes}
        await asyncio.to_thread(actor[kind].send, **payload)


def declare_actors(broker: dramatiq.Broker, context: ActorContext) -> Actors:
    """Declare the actors on `broker`, each closing over `context`."""

    async def analyse_responses(response_ids: list[int]) -> None:
        """Analyse a batch of survey responses and open follow-up tasks for the negative ones."""
        await analysis.analyse_responses(
            response_ids,
            context.analyser(),
            policy=FollowUpPolicy.from_settings(context.settings),
            clock=context.clock,
        )

    async def discover_themes(run_id: int) -> None:
        """Cluster recent comment sentences into themes (a scheduled batch job)."""
        await themes.run_discovery(run_id, context.theme_finder(), clock=context.clock)

    return Actors(
        analyse_responses=dramatiq.actor(
            broker=broker,
            actor_name=ANALYSE_RESPONSES,
            queue_name="analysis",
            max_retries=3,
            min_backoff=1_000,
            time_limit=10 * 60_000,
        )(analyse_responses),
        discover_themes=dramatiq.actor(
            broker=broker,
            actor_name=DISCOVER_THEMES,
            queue_name="discovery",
            max_retries=2,
            time_limit=60 * 60_000,
        )(discover_themes),
    )
