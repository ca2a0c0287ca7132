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

from aftercare import analysis, notifications, overdue, themes
from aftercare.analysis import CommentAnalyser
from aftercare.clock import Clock
from aftercare.notifications import (
    MAX_BACKOFF_FACTOR,
    SEND_MAIL,
    MailChannel,
    NotDeliveredYet,
)
from aftercare.outbox import ANALYSE_RESPONSES
from aftercare.overdue import MARK_OVERDUE_TASKS
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
    # None: no mail server configured, messages are only kept in the database.
    mail: MailChannel | None


@dataclass(frozen=True)
class Actors:
    """The actors of one broker, and the send the outbox relay uses to reach them."""

    analyse_responses: dramatiq.Actor[Any, Any]
    discover_themes: dramatiq.Actor[Any, Any]
    send_mail: dramatiq.Actor[Any, Any]
    mark_overdue_tasks: dramatiq.Actor[Any, Any]

    @property
    def broker(self) -> dramatiq.Broker:
        broker: dramatiq.Broker = self.analyse_responses.broker
        return broker

    async def send(self, kind: str, payload: dict[str, Any]) -> None:
        """Send one outbox message to its actor (off the event loop: broker clients block)."""
        actor = {
            ANALYSE_RESPONSES: self.analyse_responses,
            DISCOVER_THEMES: self.discover_themes,
            SEND_MAIL: self.send_mail,
            MARK_OVERDUE_TASKS: self.mark_overdue_tasks,
        }
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

    async def send_mail(notification_id: int) -> None:
        """Deliver one notification (or only keep it, with no mail server); a failure that may
        pass is retried with backoff until the notification's attempts run out."""
        try:
            await notifications.deliver_notification(
                notification_id,
                context.mail,
                public_url=context.settings.public_url,
                max_attempts=context.settings.mail_max_attempts,
                clock=context.clock,
            )
        except NotDeliveredYet as error:
            # Retry without an error's traceback in the log: the reason is on the row.
            raise dramatiq.Retry(str(error)) from error

    async def mark_overdue_tasks() -> None:
        """Mark tasks past their deadline overdue and send the morning digests (scheduled)."""
        await overdue.check_overdue_tasks(
            now=context.clock(), digest_hour=context.settings.digest_hour
        )

    mail_backoff_ms = max(1, int(context.settings.mail_retry_seconds * 1000))
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
        send_mail=dramatiq.actor(
            broker=broker,
            actor_name=SEND_MAIL,
            queue_name="mail",
            # The notification counts its attempts and fails itself at the last; these spare
            # retries cover a database that is down while the actor runs.
            max_retries=context.settings.mail_max_attempts + 3,
            min_backoff=mail_backoff_ms,
            max_backoff=mail_backoff_ms * MAX_BACKOFF_FACTOR,
            time_limit=5 * 60_000,
        )(send_mail),
        mark_overdue_tasks=dramatiq.actor(
            broker=broker,
            actor_name=MARK_OVERDUE_TASKS,
            queue_name="mail",
            max_retries=2,
            time_limit=10 * 60_000,
        )(mark_overdue_tasks),
    )
