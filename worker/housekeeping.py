"""The loop that feeds the broker: relay the outbox, re-request stale analyses, schedule
theme discovery and the overdue check.

It runs inside every API process (and as `aftercare housekeeping` on its own). Several copies
at once are safe: rows are claimed before sending and actors are idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time

from aftercare.analysis import finish_without_sentiment
from aftercare.clock import Clock
from aftercare.notifications import request_stale_notifications, stale_mail_after
from aftercare.outbox import Send, dispatch_outbox, request_stale_analyses
from aftercare.overdue import MARK_OVERDUE_TASKS, OVERDUE_JOB
from aftercare.schedule import claim_run, release_run, this_process
from aftercare.settings import Settings
from aftercare.sign_in import forget_expired_sign_ins
from aftercare.tasks import FollowUpPolicy
from aftercare.themes import schedule_discovery

log = logging.getLogger(__name__)


async def run_housekeeping_once(settings: Settings, clock: Clock, send: Send) -> int:
    """One round: forget expired sessions and sign-in failures, sweep stale analyses and
    notifications into the outbox, start the scheduled jobs this process claims, then relay the
    outbox to the broker."""
    await forget_expired_sign_ins(now=clock())
    _, exhausted = await request_stale_analyses(
        clock=clock,
        stale_after=dt.timedelta(seconds=settings.analysis_sweep_after_seconds),
        max_attempts=settings.analysis_max_attempts,
    )
    if exhausted:
        await finish_without_sentiment(
            exhausted,
            reason=f"no worker finished analysing it in {settings.analysis_max_attempts} attempts",
            policy=FollowUpPolicy.from_settings(settings),
            clock=clock,
        )
    if settings.discovery_interval_hours > 0:
        await schedule_discovery(
            clock=clock,
            every=dt.timedelta(hours=settings.discovery_interval_hours),
            window=dt.timedelta(days=settings.discovery_window_days),
        )
    await request_stale_notifications(
        now=clock(), stale_after=stale_mail_after(settings.mail_retry_seconds)
    )
    await start_overdue_check(settings, clock, send)
    return await dispatch_outbox(send, clock=clock, batch_size=settings.analysis_batch_size)


async def start_overdue_check(settings: Settings, clock: Clock, send: Send) -> bool:
    """Send the mark_overdue_tasks actor its run when this process claims it; True if so."""
    now, process = clock(), this_process()
    every = dt.timedelta(seconds=settings.overdue_check_interval_seconds)
    if not await claim_run(OVERDUE_JOB, every=every, now=now, claimed_by=process):
        return False
    try:
        sent = send(MARK_OVERDUE_TASKS, {})
        if sent is not None:
            await sent
    except Exception:
        await release_run(OVERDUE_JOB, now=now, claimed_by=process)
        raise
    return True


class Housekeeper:
    """Runs housekeeping every few seconds, and soon after new responses arrive.

    A new response starts a short batching window: responses arriving within
    `analysis_batch_wait_ms`, up to `analysis_batch_size` of them, go to the workers together
    and share one model pass.

    Each round is a task of its own, so it starts from a clean context (no transaction left
    over from a round whose connection died) and is cancelled when it hangs; any error only
    costs that round. `seconds_since_success` tells readiness probes whether rounds succeed.
    """

    def __init__(self, settings: Settings, clock: Clock, send: Send) -> None:
        self.settings = settings
        self.clock = clock
        self.send = send
        self._wake = asyncio.Event()
        self._batch_full = asyncio.Event()
        self._waiting = 0
        self._stopping = False
        self._started = time.monotonic()
        self._last_success: float | None = None
        self._failed_rounds = 0

    def wake(self) -> None:
        self._waiting += 1
        self._wake.set()
        if self._waiting >= self.settings.analysis_batch_size:
            self._batch_full.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    def seconds_since_success(self) -> float:
        """Seconds since the last round that succeeded (or since start, before the first)."""
        return time.monotonic() - (self._last_success or self._started)

    @property
    def is_stale(self) -> bool:
        return self.seconds_since_success() > self.settings.housekeeping_stale_after_seconds

    async def run_round(self) -> bool:
        """One round in a fresh task; True when it succeeded."""
        try:
            await asyncio.wait_for(
                asyncio.create_task(run_housekeeping_once(self.settings, self.clock, self.send)),
                timeout=self.settings.housekeeping_stale_after_seconds,
            )
        except Exception as error:
            # The broker or database being down must not end the loop: retry next round. The
            # first failure gets its traceback; an outage then logs one line a round.
            self._failed_rounds += 1
            if self._failed_rounds == 1:
                log.exception("housekeeping round failed; retrying every round")
            else:
                log.warning("housekeeping round %d failed again: %r", self._failed_rounds, error)
            return False
        if self._failed_rounds:
            log.warning("housekeeping recovered after %d failed rounds", self._failed_rounds)
            self._failed_rounds = 0
        self._last_success = time.monotonic()
        return True

    async def run(self) -> None:
        while not self._stopping:
            await self.run_round()
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
