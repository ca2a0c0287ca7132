"""Periodic jobs: every run is claimed by one process with a conditional update.

Each job has a row with the time of its next run; a process runs the job only when its update
moved that time on (`next_run_at <= now`), so web processes that all check on their own
schedule still start each run once.
"""

from __future__ import annotations

import datetime as dt
import os
import socket

from aftercare.db import write_transaction
from aftercare.tables import ScheduledJob


def this_process() -> str:
    """How a claim names the process that made it."""
    return f"{socket.gethostname()}:{os.getpid()}"


async def claim_run(name: str, *, every: dt.timedelta, now: dt.datetime, claimed_by: str) -> bool:
    """True when this caller won the job's run due at `now` (the next one is `every` later)."""
    # Most checks find the run not yet due: a read then, not a write transaction each round.
    planned = (
        await ScheduledJob.select(ScheduledJob.next_run_at).where(ScheduledJob.name == name).first()
    )
    if planned is not None and planned["next_run_at"] > now:
        return False
    async with write_transaction():
        await ScheduledJob.insert(
            ScheduledJob(name=name, next_run_at=now, claimed_by="")
        ).on_conflict(target=ScheduledJob.name, action="DO NOTHING")
        claimed = (
            await ScheduledJob.update(
                {
                    ScheduledJob.next_run_at: now + every,
                    ScheduledJob.claimed_by: claimed_by,
                    ScheduledJob.claimed_at: now,
                }
            )
            .where(ScheduledJob.name == name, ScheduledJob.next_run_at <= now)
            .returning(ScheduledJob.id)
        )
    return bool(claimed)


async def release_run(name: str, *, now: dt.datetime, claimed_by: str) -> None:
    """Give back a run this caller claimed but could not start, so the next check takes it."""
    async with write_transaction():
        await ScheduledJob.update({ScheduledJob.next_run_at: now}).where(
            ScheduledJob.name == name, ScheduledJob.claimed_by == claimed_by
        )
