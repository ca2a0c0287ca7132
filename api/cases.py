"""POST /api/v1/cases/closed: a helpdesk reports a closed case; we invite the customer."""

from __future__ import annotations

import datetime as dt

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody

from aftercare.accounts import Caller
from aftercare.cases import CaseInvitation, CaseView, ClosedCase, get_case, record_closed_case
from aftercare.clock import Clock
from aftercare.settings import Settings
from aftercare.tasks import ensure_case_visible
from api.auth import ADMINS, REPORT_READERS
from api.openapi import problems
from api.params import Id
from api.problems import StrictBody

MAX_CASE_BODY = 64 * 1024


class CaseController(Controller):
    path = "/cases"
    tags = ["cases"]

    @post(
        "/closed",
        summary="Report a closed support case",
        description="Creates the case and its survey invitation (201). The same external_id "
        "again returns the existing invitation (200), never a second one.",
        guards=[ADMINS],
        request_max_body_size=MAX_CASE_BODY,
        status_code=201,
        responses={200: ResponseSpec(CaseInvitation, description="The case was reported before")},
        dto=StrictBody[ClosedCase],
        return_dto=None,
    )
    async def close_case(
        self,
        data: JSONBody[ClosedCase],
        settings: NamedDependency[Settings],
        clock: NamedDependency[Clock],
    ) -> Response[CaseInvitation]:
        invitation, created = await record_closed_case(
            data,
            public_url=settings.public_url,
            clock=clock,
            link_lifetime=dt.timedelta(days=settings.survey_link_days),
        )
        return Response(invitation, status_code=201 if created else 200)

    @get(
        "/{case_id:int}",
        summary="A case with its survey link and response id (a lead: of their teams)",
        guards=[REPORT_READERS],
        responses=problems({404: "No case with this id"}),
    )
    async def read(
        self, case_id: Id, settings: NamedDependency[Settings], caller: NamedDependency[Caller]
    ) -> CaseView:
        await ensure_case_visible(case_id, caller.task_scope)
        return await get_case(case_id, public_url=settings.public_url)
