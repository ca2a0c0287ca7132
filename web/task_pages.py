"""The owner's inbox and the task page: the same domain calls as api/tasks.py, as forms.

Every form posts to its own route, which calls one domain function and redirects back with a
short confirmation (post/redirect/get); a change the rules refuse shows the page again with
the message, what was typed, and the 4xx status.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal, TypeVar, get_args
from urllib.parse import urlencode

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, PathParameter, QueryParameter
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from aftercare.accounts import Caller
from aftercare.clock import Clock
from aftercare.directory import list_owners, list_teams
from aftercare.errors import Conflict, InvalidInput
from aftercare.fields import MAX_ID
from aftercare.root_causes import list_root_causes
from aftercare.routing import OPEN_STATUSES
from aftercare.task_changes import (
    FINAL_STATUSES,
    TRANSITIONS,
    ContactChannel,
    ContactOutcome,
    NewContact,
    NewNote,
    TaskChanges,
    add_note,
    change_task,
    list_task_events,
    record_contact,
)
from aftercare.tasks import (
    TaskFilters,
    TaskPriority,
    TaskStatus,
    count_tasks_by_status,
    ensure_task_visible,
    get_task,
    list_tasks,
)
from aftercare.topics import list_topics

MAX_TASK_FORM_BODY = 32 * 1024
INBOX_PAGE_SIZE = 50
STATUSES: tuple[TaskStatus, ...] = get_args(TaskStatus)
PRIORITIES: tuple[TaskPriority, ...] = get_args(TaskPriority)
CHANNEL_NAMES = {"phone": "Phone", "email": "Email", "chat": "Chat"}
OUTCOME_NAMES = {
    "reached": "Reached the customer",
    "no_answer": "No answer",
    "left_message": "Left a message",
}
STATUS_NAMES = {
    "open": "Open",
    "in_progress": "In progress",
    "waiting_on_customer": "Waiting on customer",
    "resolved": "Resolved",
    "not_resolvable": "Not resolvable",
}
# "active": the open states (the inbox's default); "any": every state.
InboxStatus = Literal["active", "any"] | TaskStatus
InboxView = Literal["mine", "team"]
# The filter form sends an empty value for "every priority".
InboxPriority = Literal[""] | TaskPriority
# What the history calls each kind of event.
EVENT_NAMES = {
    "created": "Task opened",
    "note": "Note",
    "contact": "Contact",
    "status_changed": "Status changed",
    "owner_id_changed": "Owner changed",
    "priority_changed": "Priority changed",
    "root_cause_changed": "Root cause",
    "resolution_note_changed": "Resolution note",
    "response_attached": "Another answer from the customer",
}
# What the page says after each form's change was saved.
DONE = {
    "claim": "You own this task now.",
    "note": "Note added.",
    "contact": "Contact recorded.",
    "status": "Status changed.",
    "owner": "Task reassigned.",
    "priority": "Priority changed.",
}
Done = Literal["claim", "note", "contact", "status", "owner", "priority"]
# What to say about a form field msgspec refused.
FIELD_HINTS = {
    "text": "Write the note (up to 5000 characters, without control characters).",
    "channel": "Choose how you contacted the customer: phone, email or chat.",
    "outcome": "Choose how the contact went.",
    "note": "The note may have up to 5000 characters, without control characters.",
    "status": "Choose the new status.",
    "owner_id": "Choose the new owner.",
    "priority": "Choose P1, P2 or P3.",
    "root_cause": "Choose a root cause.",
    "resolution_note": "The note may have up to 5000 characters, without control characters.",
}
_FIELD_IN_ERROR = re.compile(r"at `\$\.(\w+)`")
FIELD_LABELS = {
    "text": "Note",
    "channel": "Channel",
    "outcome": "Outcome",
    "note": "Note",
    "status": "New status",
    "owner_id": "New owner",
    "owner": "Owner",
    "priority": "Priority",
    "root_cause": "Root cause",
    "resolution_note": "Resolution note",
}
T = TypeVar("T")
TaskId = Annotated[int, PathParameter(ge=1, le=MAX_ID)]


class InboxController(Controller):
    path = "/inbox"
    include_in_schema = False

    @get("/")
    async def inbox(
        self,
        caller: NamedDependency[Caller],
        clock: NamedDependency[Clock],
        view: FromQuery[InboxView | None] = None,
        status: FromQuery[InboxStatus] = "active",
        team: Annotated[str | None, QueryParameter(max_length=64)] = None,
        priority: FromQuery[InboxPriority] = "",
        topic: Annotated[str | None, QueryParameter(max_length=64)] = None,
        page: Annotated[int, QueryParameter(ge=1, le=10_000)] = 1,
    ) -> Template:
        now = clock()
        view = view or ("mine" if caller.role == "owner" else "team")
        filters = TaskFilters(
            owner_email=caller.label if view == "mine" else None,
            team=team or None,
            statuses=_statuses(status),
            priority=priority or None,
            topic=topic or None,
            scope=caller.task_scope,
        )
        found = await list_tasks(
            filters, now=now, limit=INBOX_PAGE_SIZE, offset=(page - 1) * INBOX_PAGE_SIZE
        )
        counts = await count_tasks_by_status(filters, now=now)
        visible = caller.task_scope.team_ids
        teams = [each for each in await list_teams() if visible is None or each.id in visible]
        chosen = {
            "view": view,
            "status": status,
            "team": team or "",
            "priority": priority,
            "topic": topic or "",
        }
        return Template(
            "inbox.html",
            context={
                "caller": caller,
                "tasks": found.items,
                "total": found.total,
                "counts": [
                    (
                        STATUS_NAMES[key],
                        counts.get(key, 0),
                        _inbox_url({**chosen, "status": key}, 1),
                    )
                    for key in STATUSES
                ],
                "teams": teams,
                "chosen": chosen,
                "status_names": STATUS_NAMES,
                "priorities": PRIORITIES,
                "topics": await list_topics(),
                "page": page,
                "previous_url": _inbox_url(chosen, page - 1) if page > 1 else "",
                "next_url": _inbox_url(chosen, page + 1)
                if page * INBOX_PAGE_SIZE < found.total
                else "",
                "view_urls": {v: _inbox_url({**chosen, "view": v}, 1) for v in ("mine", "team")},
            },
        )


class TaskPageController(Controller):
    path = "/tasks"
    include_in_schema = False

    @get("/{task_id:int}")
    async def show(
        self,
        task_id: TaskId,
        caller: NamedDependency[Caller],
        clock: NamedDependency[Clock],
        done: FromQuery[Done | None] = None,
    ) -> Template:
        return await _task_page(task_id, caller, clock, notice=DONE[done] if done else "")

    @post("/{task_id:int}/claim", request_max_body_size=MAX_TASK_FORM_BODY)
    async def claim(
        self, task_id: TaskId, caller: NamedDependency[Caller], clock: NamedDependency[Clock]
    ) -> Template | Redirect:
        async def claim() -> None:
            if caller.user_id is None:
                raise InvalidInput("owner", "only a person can take a task")
            changes = TaskChanges(owner_id=caller.user_id)
            await change_task(task_id, changes, actor=caller.actor, now=clock())

        return await _change(task_id, caller, clock, "claim", {}, claim)

    @post("/{task_id:int}/notes", request_max_body_size=MAX_TASK_FORM_BODY)
    async def note(
        self,
        task_id: TaskId,
        request: Request[Any, Any, Any],
        caller: NamedDependency[Caller],
        clock: NamedDependency[Clock],
    ) -> Template | Redirect:
        values = await _form(request, "text")

        async def note() -> None:
            new_note = _parsed(values, NewNote)
            await add_note(task_id, new_note, actor=caller.actor, now=clock())

        return await _change(task_id, caller, clock, "note", values, note)

    @post("/{task_id:int}/contacts", request_max_body_size=MAX_TASK_FORM_BODY)
    async def contact(
        self,
        task_id: TaskId,
        request: Request[Any, Any, Any],
        caller: NamedDependency[Caller],
        clock: NamedDependency[Clock],
    ) -> Template | Redirect:
        values = await _form(request, "channel", "outcome", "note")

        async def contact() -> None:
            new_contact = _parsed(values, NewContact)
            await record_contact(task_id, new_contact, actor=caller.actor, now=clock())

        return await _change(task_id, caller, clock, "contact", values, contact)

    @post("/{task_id:int}/status", request_max_body_size=MAX_TASK_FORM_BODY)
    async def status(
        self,
        task_id: TaskId,
        request: Request[Any, Any, Any],
        caller: NamedDependency[Caller],
        clock: NamedDependency[Clock],
    ) -> Template | Redirect:
        values = await _form(request, "status", "root_cause", "resolution_note")
        # Only what was filled in: an empty root cause or note leaves the task's own.
        given = {field: value for field, value in values.items() if value.strip()}
        return await _change_task(task_id, caller, clock, "status", values, given)

    @post("/{task_id:int}/owner", request_max_body_size=MAX_TASK_FORM_BODY)
    async def reassign(
        self,
        task_id: TaskId,
        request: Request[Any, Any, Any],
        caller: NamedDependency[Caller],
        clock: NamedDependency[Clock],
    ) -> Template | Redirect:
        values = await _form(request, "owner_id")
        return await _change_task(task_id, caller, clock, "owner", values, values)

    @post("/{task_id:int}/priority", request_max_body_size=MAX_TASK_FORM_BODY)
    async def priority(
        self,
        task_id: TaskId,
        request: Request[Any, Any, Any],
        caller: NamedDependency[Caller],
        clock: NamedDependency[Clock],
    ) -> Template | Redirect:
        values = await _form(request, "priority")
        return await _change_task(task_id, caller, clock, "priority", values, values)


async def _change_task(
    task_id: int,
    caller: Caller,
    clock: Clock,
    form: Done,
    values: dict[str, str],
    changes: dict[str, str],
) -> Template | Redirect:
    async def change() -> None:
        parsed = _parsed(changes, TaskChanges)
        await change_task(task_id, parsed, actor=caller.actor, now=clock())

    return await _change(task_id, caller, clock, form, values, change)


async def _change(
    task_id: int,
    caller: Caller,
    clock: Clock,
    form: Done,
    values: dict[str, str],
    change: Callable[[], Awaitable[None]],
) -> Template | Redirect:
    """Make the change to a task the caller may see; then back to its page, or the page
    again with the refusal."""
    await ensure_task_visible(task_id, caller.task_scope)
    try:
        await change()
    except (Conflict, InvalidInput) as error:
        failed = {"form": form, "field": "", "message": error.detail, "values": values}
        if isinstance(error, InvalidInput):
            label = FIELD_LABELS.get(error.field, "")
            reason = error.detail.removeprefix(f"{error.field}: ")
            failed |= {"field": error.field, "message": f"{label}: {reason}" if label else reason}
        status = 409 if isinstance(error, Conflict) else 422
        return await _task_page(task_id, caller, clock, failed=failed, status=status)
    return Redirect(f"/tasks/{task_id}?done={form}", status_code=HTTP_303_SEE_OTHER)


async def _task_page(
    task_id: int,
    caller: Caller,
    clock: Clock,
    *,
    notice: str = "",
    failed: dict[str, Any] | None = None,
    status: int = 200,
) -> Template:
    task = await get_task(task_id, now=clock(), scope=caller.task_scope)
    owners = await list_owners(task.team.slug) if task.team else []
    topics = {topic.key: topic.name for topic in await list_topics()}
    causes = {cause.key: cause.name for cause in await list_root_causes()}
    # What the history's "before → after" values are called on the page.
    names = {
        "status": STATUS_NAMES,
        "root_cause": causes,
        "owner_id": {owner.id: owner.name or owner.email for owner in owners},
    }
    return Template(
        "task.html",
        context={
            "caller": caller,
            "task": task,
            "events": await list_task_events(task_id),
            "root_causes": await list_root_causes(active_only=True),
            "root_cause_names": causes,
            "value_names": names,
            "owners": [owner for owner in owners if owner.active],
            "topic_names": topics,
            "next_statuses": [s for s in STATUSES if s in TRANSITIONS[task.status]],
            "final": task.status in FINAL_STATUSES,
            "status_names": STATUS_NAMES,
            "event_names": EVENT_NAMES,
            "priorities": PRIORITIES,
            "channels": [(key, CHANNEL_NAMES[key]) for key in get_args(ContactChannel)],
            "outcomes": [(key, OUTCOME_NAMES[key]) for key in get_args(ContactOutcome)],
            "notice": notice,
            "failed": failed or {"form": "", "field": "", "message": "", "values": {}},
        },
        status_code=status,
    )


async def _form(request: Request[Any, Any, Any], *fields: str) -> dict[str, str]:
    form = await request.form()
    return {field: str(form.get(field, "")) for field in fields}


def _parsed(values: dict[str, str], kind: type[T]) -> T:
    """Form fields as the domain's input Struct; a refused field says what it needs."""
    try:
        return msgspec.convert(values, kind, strict=False)
    except msgspec.ValidationError as error:
        match = _FIELD_IN_ERROR.search(str(error))
        field = match.group(1) if match else ""
        raise InvalidInput(field or "form", FIELD_HINTS.get(field, str(error))) from error


def _statuses(status: InboxStatus) -> tuple[TaskStatus, ...]:
    if status == "active":
        return tuple(s for s in STATUSES if s in OPEN_STATUSES)
    if status == "any":
        return ()
    return (status,)


def _inbox_url(chosen: dict[str, str], page: int) -> str:
    query = {key: value for key, value in chosen.items() if value}
    if page > 1:
        query["page"] = str(page)
    return "/inbox?" + urlencode(query)
