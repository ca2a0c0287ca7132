"""Follow-up tasks for owners' inboxes."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromQuery, Parameter

from aftercare.clock import Clock
from aftercare.tasks import TaskStatus, TaskView, get_task, list_tasks
from api.openapi import problems
from api.params import Id, Offset


class TaskController(Controller):
    path = "/tasks"
    tags = ["tasks"]

    @get("/", summary="List follow-up tasks, soonest deadline first")
    async def list(
        self,
        clock: NamedDependency[Clock],
        owner: Annotated[str | None, Parameter(description="Owner email", max_length=320)] = None,
        status: FromQuery[TaskStatus | None] = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
        offset: Offset = 0,
    ) -> list[TaskView]:
        return await list_tasks(
            now=clock(), owner_email=owner, status=status, limit=limit, offset=offset
        )

    @get(
        "/{task_id:int}",
        summary="One follow-up task",
        responses=problems({404: "No follow-up task with this id"}),
    )
    async def read(self, task_id: Id, clock: NamedDependency[Clock]) -> TaskView:
        return await get_task(task_id, now=clock())
