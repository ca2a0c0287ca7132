"""Root causes: the list a resolved task names one of."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody

from aftercare.clock import Clock
from aftercare.root_causes import (
    NewRootCause,
    RootCauseView,
    create_root_cause,
    list_root_causes,
)
from api.auth import CURATORS, EVERYONE
from api.openapi import problems
from api.problems import StrictBody


class RootCauseController(Controller):
    path = "/root-causes"
    tags = ["tasks"]

    @get("/", summary="The root causes a task can be resolved with", guards=[EVERYONE])
    async def list(self, active_only: FromQuery[bool] = False) -> list[RootCauseView]:
        return await list_root_causes(active_only=active_only)

    @post(
        "/",
        summary="Add a root cause",
        guards=[CURATORS],
        request_max_body_size=16 * 1024,
        responses=problems({409: "A root cause with this key exists"}),
        dto=StrictBody[NewRootCause],
        return_dto=None,
    )
    async def create(
        self, data: JSONBody[NewRootCause], clock: NamedDependency[Clock]
    ) -> RootCauseView:
        return await create_root_cause(data, now=clock())
