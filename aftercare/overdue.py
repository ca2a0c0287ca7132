"""Late work: tasks past their deadline are marked overdue once (an event, and a notice to the
team's leads), and each morning every owner with overdue tasks gets one digest of them.

The mark_overdue_tasks actor runs `check_overdue_tasks` on a schedule that one process claims
per run (aftercare.schedule); running it again, or from two processes, marks and mails nothing
more: a task is marked where it is still unmarked, and a digest's key holds its day.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from aftercare.db import write_transaction
from aftercare.directory import team_leads
from aftercare.notifications import add_notification
from aftercare.routing import OPEN_STATUSES
from aftercare.tables import FollowUpTask
from aftercare.tasks import SYSTEM, record_task_event

MARK_OVERDUE_TASKS = "mark_overdue_tasks"
OVERDUE_JOB = "overdue_check"
OVERDUE = "overdue"
# Tasks marked per run: a backlog is worked off over the following runs.
MAX_MARKED_PER_RUN = 1000


class OverdueRound(msgspec.Struct, frozen=True, kw_only=True):
    marked: int
    lead_notices: int
    digests: int


async def check_overdue_tasks(*, now: dt.datetime, digest_hour: int) -> OverdueRound:
    """Mark the tasks that went past their deadline, then send the day's digests when due."""
    marked, notices = await mark_overdue_tasks(now=now)
    digests = await send_overdue_digests(now=now, digest_hour=digest_hour)
    return OverdueRound(marked=marked, lead_notices=notices, digests=digests)


async def mark_overdue_tasks(*, now: dt.datetime) -> tuple[int, int]:
    """Mark each unresolved task past its deadline overdue, once: an `overdue` event and a
    notice to each lead of its team, in one transaction. Returns (tasks marked, notices)."""
    candidates = (
        await FollowUpTask.select(FollowUpTask.id, FollowUpTask.team, FollowUpTask.due_at)
        .where(*_past_due(now), FollowUpTask.overdue_at.is_null())
        .order_by(FollowUpTask.due_at)
        .order_by(FollowUpTask.id)
        .limit(MAX_MARKED_PER_RUN)
    )
    marked = notices = 0
    for task in candidates:
        async with write_transaction():
            claimed = (
                await FollowUpTask.update({FollowUpTask.overdue_at: now})
                .where(
                    FollowUpTask.id == task["id"],
                    FollowUpTask.overdue_at.is_null(),
                    *_past_due(now),
                )
                .returning(FollowUpTask.id)
            )
            if not claimed:
                continue  # resolved meanwhile, or another run marked it
            marked += 1
            event_id = await record_task_event(
                task["id"], OVERDUE, SYSTEM, {"due_at": task["due_at"].isoformat()}, now
            )
            leads = await team_leads(task["team"]) if task["team"] is not None else []
            for lead in leads:
                added = await add_notification(
                    key=f"task:{task['id']}:event:{event_id}:to:{lead.email}",
                    kind="overdue",
                    recipient=lead.email,
                    task_id=task["id"],
                    data={"event_id": event_id, "recipient_name": lead.name},
                    now=now,
                )
                notices += added is not None
    return marked, notices


async def send_overdue_digests(*, now: dt.datetime, digest_hour: int) -> int:
    """From `digest_hour` (UTC) on, one digest per owner and day of their tasks that were
    overdue at that hour; returns how many were queued (none on a second run that day)."""
    today = now.astimezone(dt.UTC)
    digest_moment = today.replace(hour=digest_hour, minute=0, second=0, microsecond=0)
    if today < digest_moment:
        return 0
    rows = (
        await FollowUpTask.select(
            FollowUpTask.id,
            FollowUpTask.owner.id.as_alias("owner_id"),
            FollowUpTask.owner.email.as_alias("owner_email"),
            FollowUpTask.owner.name.as_alias("owner_name"),
        )
        .where(
            *_past_due(digest_moment),
            FollowUpTask.owner.is_not_null(),
            FollowUpTask.owner.active.eq(True),
        )
        .order_by(FollowUpTask.due_at)
        .order_by(FollowUpTask.id)
    )
    by_owner: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_owner.setdefault(row["owner_id"], []).append(row)
    day = digest_moment.date().isoformat()
    queued = 0
    for owner_id, tasks in by_owner.items():
        async with write_transaction():
            added = await add_notification(
                key=f"digest:{day}:{owner_id}",
                kind="digest",
                recipient=tasks[0]["owner_email"],
                task_id=None,
                data={
                    "day": day,
                    "task_ids": [task["id"] for task in tasks],
                    "recipient_name": tasks[0]["owner_name"],
                },
                now=now,
            )
        queued += added is not None
    return queued


def _past_due(moment: dt.datetime) -> list[Any]:
    return [FollowUpTask.status.is_in(OPEN_STATUSES), FollowUpTask.due_at < moment]
