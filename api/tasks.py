"""Follow-up tasks: the owners' inbox over JSON, and everything an owner does to a task."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody, Parameter

from aftercare.accounts import Caller
from aftercare.clock import Clock
from aftercare.errors import InvalidInput
from aftercare.task_changes import (
    NewContact,
    NewNote,
    TaskChanges,
    TaskEventView,
    add_note,
    change_task,
    list_task_events,
    record_contact,
)
from aftercare.tasks import (
    TaskFilters,
    TaskPage,
    TaskPriority,
    TaskSort,
    TaskStatus,
    TaskView,
    ensure_task_visible,
    get_task,
    list_tasks,
)
from api.auth import EVERYONE, TASK_WORKERS
from api.openapi import problems
from api.params import Id, Instant, Offset, parse_instant
from api.problems import StrictBody

MAX_TASK_BODY = 32 * 1024
NO_TASK = "No follow-up task with this id"


class TaskController(Controller):
    path = "/tasks"
    tags = ["tasks"]

    @get(
        "/",
        summary="List follow-up tasks (soonest deadline first by default)",
        guards=[EVERYONE],
        responses=problems(
            {
                422: "`since` fits the date pattern but names no real day, `topic` names no "
                "topic, or `owner=me` comes with the bootstrap token, which belongs to no one"
            }
        ),
    )
    async def find(
        self,
        clock: NamedDependency[Clock],
        caller: NamedDependency[Caller],
        owner: Annotated[
            str | None, Parameter(description="Owner email, or `me`", max_length=320)
        ] = None,
        team: Annotated[str | None, Parameter(description="Team slug", max_length=64)] = None,
        status: Annotated[
            list[TaskStatus] | None, Parameter(description="Repeat for several")
        ] = None,
        overdue: FromQuery[bool | None] = None,
        priority: FromQuery[TaskPriority | None] = None,
        topic: Annotated[
            str | None, Parameter(description="Topic key: the answer mentions it", max_length=64)
        ] = None,
        since: Instant = None,
        sort: FromQuery[TaskSort] = "due",
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
        offset: Offset = 0,
    ) -> TaskPage:
        filters = TaskFilters(
            owner_email=_email_of(caller) if owner == "me" else owner,
            team=team,
            statuses=tuple(status or ()),
            overdue=overdue,
            priority=priority,
            topic=topic,
            created_since=parse_instant("since", since),
            sort=sort,
            scope=caller.task_scope,
        )
        return await list_tasks(filters, now=clock(), limit=limit, offset=offset)

    @get(
        "/{task_id:int}",
        summary="One follow-up task",
        guards=[EVERYONE],
        responses=problems({404: NO_TASK}),
    )
    async def read(
        self, task_id: Id, clock: NamedDependency[Clock], caller: NamedDependency[Caller]
    ) -> TaskView:
        return await get_task(task_id, now=clock(), scope=caller.task_scope)

    @patch(
        "/{task_id:int}",
        summary="Change a task's status, owner, priority, root cause or resolution note",
        description="Moves: open → in_progress → waiting_on_customer ⇄ in_progress → resolved "
        "| not_resolvable (also straight from in_progress). Resolving needs `root_cause` and "
        "`resolution_note`; not_resolvable needs `resolution_note`, the explanation given to the "
        "customer. Every change is an event.",
        guards=[TASK_WORKERS],
        request_max_body_size=MAX_TASK_BODY,
        responses=problems(
            {
                404: NO_TASK,
                409: "The lifecycle forbids this move, or the task is final",
                422: "A resolution without what it needs, an unknown root cause, or an owner "
                "who is inactive or not a member of the task's team",
            }
        ),
        dto=StrictBody[TaskChanges],
        return_dto=None,
    )
    async def change(
        self,
        task_id: Id,
        data: JSONBody[TaskChanges],
        clock: NamedDependency[Clock],
        caller: NamedDependency[Caller],
    ) -> TaskView:
        now = clock()
        await ensure_task_visible(task_id, caller.task_scope)
        await change_task(task_id, data, actor=caller.actor, now=now)
        return await get_task(task_id, now=now)

    @post(
        "/{task_id:int}/notes",
        summary="Add a note to a task",
        guards=[TASK_WORKERS],
        request_max_body_size=MAX_TASK_BODY,
        responses=problems({404: NO_TASK}),
        dto=StrictBody[NewNote],
        return_dto=None,
    )
    async def note(
        self,
        task_id: Id,
        data: JSONBody[NewNote],
        clock: NamedDependency[Clock],
        caller: NamedDependency[Caller],
    ) -> Response[list[TaskEventView]]:
        await ensure_task_visible(task_id, caller.task_scope)
        await add_note(task_id, data, actor=caller.actor, now=clock())
        return Response(await list_task_events(task_id), status_code=201)

    @post(
        "/{task_id:int}/contacts",
        summary="Record a contact with the customer (phone, email or chat, and its outcome)",
        guards=[TASK_WORKERS],
        request_max_body_size=MAX_TASK_BODY,
        responses=problems({404: NO_TASK}),
        dto=StrictBody[NewContact],
        return_dto=None,
    )
    async def contact(
        self,
        task_id: Id,
        data: JSONBody[NewContact],
        clock: NamedDependency[Clock],
        caller: NamedDependency[Caller],
    ) -> Response[list[TaskEventView]]:
        await ensure_task_visible(task_id, caller.task_scope)
        await record_contact(task_id, data, actor=caller.actor, now=clock())
        return Response(await list_task_events(task_id), status_code=201)

    @post(
        "/{task_id:int}/claim",
        summary="Take a task: its owner becomes the caller",
        guards=[TASK_WORKERS],
        status_code=200,
        responses=problems(
            {
                404: NO_TASK,
                409: "The task is final",
                422: "The caller is not an active owner of the task's team, or is the bootstrap "
                "token, which belongs to no one",
            }
        ),
    )
    async def claim(
        self, task_id: Id, clock: NamedDependency[Clock], caller: NamedDependency[Caller]
    ) -> TaskView:
        now = clock()
        await ensure_task_visible(task_id, caller.task_scope)
        changes = TaskChanges(owner_id=_user_id_of(caller))
        await change_task(task_id, changes, actor=caller.actor, now=now)
        return await get_task(task_id, now=now)

    @get(
        "/{task_id:int}/events",
        summary="A task's history, oldest first",
        guards=[EVERYONE],
        responses=problems({404: NO_TASK}),
    )
    async def events(self, task_id: Id, caller: NamedDependency[Caller]) -> list[TaskEventView]:
        await ensure_task_visible(task_id, caller.task_scope)
        return await list_task_events(task_id)


def _user_id_of(caller: Caller) -> int:
    if caller.user_id is None:
        raise InvalidInput("owner", "the bootstrap token belongs to no one: use a personal token")
    return caller.user_id


def _email_of(caller: Caller) -> str:
    _user_id_of(caller)
    return caller.label
