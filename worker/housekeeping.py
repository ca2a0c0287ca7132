"""The loop that feeds the broker: relay the outbox, re-request stale analyses, schedule
theme discovery.

It runs inside every API process (and as `aftercare housekeeping` on its own). Several copies
at once are safe: rows are claimed before sending and actors are idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging

from aftercare.analysis import finish_without_sentiment
from aftercare.clock import Clock
from aftercare.outbox import Send, dispatch_outbox, request_stale_analyses
from aftercare.settings import Settings
from aftercare.tasks import FollowUpPolicy
from aftercare.themes import schedule_discovery
from worker.actors import send_to_broker

log = logging.getLogger(__name__)


async def run_housekeeping_once(
    settings: Settings, clock: Clock, send: Send = send_to_broker
) -> int:
    """One round: sweep stale analyses into the outbox, then relay the outbox to the broker."""
    _, exhausted = await request_stale_analyses(
        clock=clock,
        stale_after=dt.timedelta(seconds=settings.analysis_sweep_after_seconds),
        max_attempts=settings.analysis_max_attempts,
    )
    if exhausted:
        await finish_without_sentiment(
            exhausted, policy=FollowUpPolicy.from_settings(settings), clock=clock
        )
    if settings.discovery_interval_hours > 0:
        await schedule_discovery(
            clock=clock,
            every=dt.timedelta(hours=settings.discovery_interval_hours),
            window=dt.timedelta(days=settings.discovery_window_days),
        )
    return await dispatch_outbox(send, clock=clock, batch_size=settings.analysis_batch_size)


class Housekeeper:
    """Runs housekeeping every few seconds, and soon after new responses arrive.

    A new response starts a short batching window: responses arriving within
    `analysis_batch_wait_ms`, up to `analysis_batch_size` of them, go to the workers together
    and share one model pass.
    """

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self._wake = asyncio.Event()
        self._batch_full = asyncio.Event()
        self._waiting = 0
        self._stopping = False

    def wake(self) -> None:
        self._waiting += 1
        self._wake.set()
        if self._waiting >= self.settings.analysis_batch_size:
            self._batch_full.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping:
            try:
                await run_housekeeping_once(self.settings, self.clock)
            except Exception:
                # The broker or database being down must not end the loop: retry next round.
                log.exception("housekeeping round failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._wake.wait(), timeout=self.settings.housekeeping_interval_seconds
                )
            if self._wake.is_set() and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._batch_full.wait(),
                        timeout=self.settings.analysis_batch_wait_ms / 1000,
                    )
            self._wake.clear()
            self._batch_full.clear()
            self._waiting = 0
