"""What owners do to a follow-up task: move it through its states, reassign it, note what
happened, record contacts with the customer. Each change and its event (who, when, before and
after) land in one transaction; a change the rules forbid changes nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec

from aftercare.db import write_transaction
from aftercare.errors import Conflict, InvalidInput, NotFound
from aftercare.fields import MAX_ID, Text
from aftercare.routing import OPEN_STATUSES, choose_assignee
from aftercare.tables import FollowUpTask, Owner, RootCause, TaskEvent
from aftercare.tasks import Actor, TaskPriority, TaskStatus, record_task_event
from aftercare.teams import is_member

# open -> in_progress -> waiting_on_customer -> resolved | not_resolvable, back from waiting to
# in progress, and resolving straight from in progress. Resolved and not resolvable are final.
TRANSITIONS: dict[str, frozenset[str]] = {
    "open": frozenset({"in_progress"}),
    "in_progress": frozenset({"waiting_on_customer", "resolved", "not_resolvable"}),
    "waiting_on_customer": frozenset({"in_progress", "resolved", "not_resolvable"}),
    "resolved": frozenset(),
    "not_resolvable": frozenset(),
}
FINAL_STATUSES = frozenset(status for status, nexts in TRANSITIONS.items() if not nexts)

Note = Annotated[Text, msgspec.Meta(min_length=1, max_length=5000)]
OwnerId = Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]
ContactChannel = Literal["phone", "email", "chat"]
ContactOutcome = Literal["reached", "no_answer", "left_message"]


class TaskChanges(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A PATCH of a task: each field given is a change."""

    status: TaskStatus | msgspec.UnsetType = msgspec.UNSET
    owner_id: OwnerId | None | msgspec.UnsetType = msgspec.UNSET
    priority: TaskPriority | msgspec.UnsetType = msgspec.UNSET
    root_cause: Annotated[str, msgspec.Meta(max_length=64)] | msgspec.UnsetType = msgspec.UNSET
    resolution_note: Annotated[Text, msgspec.Meta(max_length=5000)] | msgspec.UnsetType = (
        msgspec.UNSET
    )


class NewNote(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    text: Note


class NewContact(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    channel: ContactChannel
    outcome: ContactOutcome
    note: Annotated[Text, msgspec.Meta(max_length=5000)] = ""


class TaskEventView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    kind: str
    actor: str
    at: dt.datetime
    data: dict[str, Any]


async def change_task(
    task_id: int, changes: TaskChanges, *, actor: Actor, now: dt.datetime
) -> None:
    """Apply a PATCH: one event per field that changes; 409 for a move the lifecycle forbids,
    422 for a resolution without what it requires."""
    async with write_transaction():
        task = await _task(task_id)
        wanted = {
            field: value
            for field, value in msgspec.structs.asdict(changes).items()
            if value is not msgspec.UNSET and value != task[field]
        }
        if not wanted:
            return
        if task["status"] in FINAL_STATUSES:
            raise Conflict(f"Task {task_id} is {task['status']}: it can no longer change.")
        status = wanted.get("status", task["status"])
        if status != task["status"] and status not in TRANSITIONS[task["status"]]:
            allowed = ", ".join(sorted(TRANSITIONS[task["status"]]))
            raise Conflict(f"A task that is {task['status']} can move to {allowed}, not {status}.")
        await _check_resolution(status, {**task, **wanted})
        if "owner_id" in wanted and wanted["owner_id"] is not None:
            await _check_owner(wanted["owner_id"], task["team"])
        values: dict[Any, Any] = {FollowUpTask.updated_at: now}
        for field, value in wanted.items():
            values[_COLUMNS[field]] = value
        if status in FINAL_STATUSES:
            values[FollowUpTask.resolved_at] = now
        await FollowUpTask.update(values).where(FollowUpTask.id == task_id)
        for field, value in wanted.items():
            change = {"before": task[field], "after": value}
            await record_task_event(task_id, f"{field}_changed", actor, change, now)


async def add_note(task_id: int, note: NewNote, *, actor: Actor, now: dt.datetime) -> None:
    async with write_transaction():
        await _task(task_id)
        await record_task_event(task_id, "note", actor, {"text": note.text}, now)
        await FollowUpTask.update({FollowUpTask.updated_at: now}).where(FollowUpTask.id == task_id)


async def record_contact(
    task_id: int, contact: NewContact, *, actor: Actor, now: dt.datetime
) -> None:
    """A call, email or chat with the customer; the first one starts the time to contact."""
    async with write_transaction():
        task = await _task(task_id)
        await record_task_event(task_id, "contact", actor, msgspec.structs.asdict(contact), now)
        values: dict[Any, Any] = {FollowUpTask.updated_at: now}
        if task["first_contacted_at"] is None:
            values[FollowUpTask.first_contacted_at] = now
        await FollowUpTask.update(values).where(FollowUpTask.id == task_id)


async def list_task_events(task_id: int) -> list[TaskEventView]:
    """A task's history, oldest first."""
    await _task(task_id)
    rows = (
        await TaskEvent.select(
            TaskEvent.id, TaskEvent.kind, TaskEvent.actor, TaskEvent.at, TaskEvent.data
        )
        .where(TaskEvent.task == task_id)
        .order_by(TaskEvent.id)
    )
    return [
        TaskEventView(
            id=row["id"],
            kind=row["kind"],
            actor=row["actor"],
            at=row["at"],
            data=msgspec.json.decode(row["data"]),
        )
        for row in rows
    ]


_COLUMNS = {
    "status": FollowUpTask.status,
    "owner_id": FollowUpTask.owner,
    "priority": FollowUpTask.priority,
    "root_cause": FollowUpTask.root_cause,
    "resolution_note": FollowUpTask.resolution_note,
}


async def _task(task_id: int) -> dict[str, Any]:
    row = (
        await FollowUpTask.select(
            FollowUpTask.status,
            FollowUpTask.owner.as_alias("owner_id"),
            FollowUpTask.team,
            FollowUpTask.priority,
            FollowUpTask.root_cause,
            FollowUpTask.resolution_note,
            FollowUpTask.first_contacted_at,
        )
        .where(FollowUpTask.id == task_id)
        .first()
    )
    if row is None:
        raise NotFound(f"No follow-up task with id {task_id}.")
    return dict(row)


async def _check_resolution(status: str, task: dict[str, Any]) -> None:
    """The task as it would be after the change: is its root cause known, and is all that its
    status requires there?"""
    if task["root_cause"] or status == "resolved":
        active = await RootCause.select(RootCause.key).where(RootCause.active.eq(True))
        known = [row["key"] for row in active]
        if task["root_cause"] not in known:
            raise InvalidInput("root_cause", f"must be one of: {', '.join(known)}")
    if status == "resolved" and not task["resolution_note"].strip():
        raise InvalidInput("resolution_note", "resolving needs a note of what was done")
    if status == "not_resolvable" and not task["resolution_note"].strip():
        raise InvalidInput(
            "resolution_note", "not resolvable needs the explanation given to the customer"
        )


async def _check_owner(owner_id: int, team_id: int | None) -> None:
    owner = await Owner.select(Owner.active, Owner.role).where(Owner.id == owner_id).first()
    # A viewer reads and never works a task; everyone else in the team may own one.
    if owner is None or not owner["active"] or owner["role"] == "viewer":
        raise InvalidInput("owner_id", f"no active owner with id {owner_id}")
    if team_id is not None and not await is_member(owner_id, team_id):
        raise InvalidInput("owner_id", "the new owner must be a member of the task's team")


async def move_open_tasks_away(
    owner_id: int, *, reason: str, fallback_owner_email: str, actor: Actor, now: dt.datetime
) -> int:
    """Give an owner's open tasks, each to another available member of that task's team, one
    at a time by the balancing rule (so they spread), each move an event. Call inside the
    transaction that made the owner unavailable; returns how many tasks moved."""
    tasks = (
        await FollowUpTask.select(FollowUpTask.id, FollowUpTask.team)
        .where(FollowUpTask.owner == owner_id, FollowUpTask.status.is_in(OPEN_STATUSES))
        .order_by(FollowUpTask.due_at)
        .order_by(FollowUpTask.id)
    )
    for task in tasks:
        assignment = await choose_assignee(
            task["team"], fallback_owner_email, now=now, excluding=owner_id
        )
        await FollowUpTask.update(
            {FollowUpTask.owner: assignment.owner_id, FollowUpTask.updated_at: now}
        ).where(FollowUpTask.id == task["id"])
        moved = {
            "before": owner_id,
            "after": assignment.owner_id,
            "reason": reason,
            "rule": assignment.rule,
        }
        await record_task_event(task["id"], "owner_id_changed", actor, moved, now)
    return len(tasks)
