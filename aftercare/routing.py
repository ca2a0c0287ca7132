"""Who follows up: every assignment decision goes through `choose_assignee`.

Today the rule is "the team's available owner with the fewest open tasks, else the fallback
owner"; routing rules stored as data will replace this function's body, not its callers.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from piccolo.query.functions.aggregate import Count

from aftercare.tables import FollowUpTask, Owner
from aftercare.teams import member_ids

OPEN_STATUSES = ["open", "in_progress", "waiting_on_customer"]


class Assignment(msgspec.Struct, frozen=True, kw_only=True):
    owner_id: int | None
    team_id: int | None
    # Why this owner: shown in the task's history.
    rule: str


async def choose_assignee(
    team_id: int | None,
    fallback_owner_email: str,
    *,
    now: dt.datetime,
    excluding: int | None = None,
) -> Assignment:
    """Pick the owner for a follow-up task on a case handled by `team_id`: an available
    (active, not away at `now`) owner (role) in the team, else the fallback owner; never `excluding`
    (the owner a task is moving away from)."""
    available = _available(now, excluding)
    if team_id is not None:
        owner_id = await _least_loaded_owner(team_id, available)
        if owner_id is not None:
            return Assignment(
                owner_id=owner_id, team_id=team_id, rule="team owner with the fewest open tasks"
            )
    if fallback_owner_email:
        fallback = (
            await Owner.select(Owner.id)
            .where(Owner.email == fallback_owner_email.lower(), *available)
            .first()
        )
        if fallback:
            return Assignment(owner_id=fallback["id"], team_id=team_id, rule="fallback owner")
    return Assignment(
        owner_id=None, team_id=team_id, rule="unassigned: no team owner and no fallback owner"
    )


def _available(now: dt.datetime, excluding: int | None) -> list[Any]:
    conditions: list[Any] = [
        Owner.active.eq(True),
        Owner.away_until.is_null() | (Owner.away_until <= now),
    ]
    if excluding is not None:
        conditions.append(Owner.id != excluding)
    return conditions


async def _least_loaded_owner(team_id: int, available: list[Any]) -> int | None:
    members = await member_ids([team_id])
    if not members:
        return None
    # Routing gives work to owners; leads and admins of a team take tasks by claiming them.
    owners = await Owner.select(Owner.id).where(
        Owner.id.is_in(members), Owner.role == "owner", *available
    )
    if not owners:
        return None
    owner_ids = [row["id"] for row in owners]
    load = await open_task_counts(owner_ids)
    # Ties go to the longest-standing owner, so the choice is stable and testable.
    return int(min(owner_ids, key=lambda owner_id: (load.get(owner_id, 0), owner_id)))


async def open_task_counts(owner_ids: list[int]) -> dict[int, int]:
    """How many open tasks each owner has (owners without any are absent)."""
    if not owner_ids:
        return {}
    counts = await (
        FollowUpTask.select(FollowUpTask.owner, Count(FollowUpTask.id, alias="open_tasks"))
        .where(FollowUpTask.owner.is_in(owner_ids), FollowUpTask.status.is_in(OPEN_STATUSES))
        .group_by(FollowUpTask.owner)
    )
    return {row["owner"]: row["open_tasks"] for row in counts}
