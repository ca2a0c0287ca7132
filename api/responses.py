"""Survey responses over JSON: submit with a survey token, read back with the analysis."""

from __future__ import annotations

import msgspec
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from aftercare.accounts import Caller
from aftercare.clock import Clock
from aftercare.outbox import OutboxRelay
from aftercare.responses import (
    ResponseSubmission,
    ResponseView,
    SurveyAnswers,
    get_response,
    submit_response,
)
from aftercare.settings import Settings
from aftercare.tasks import ensure_response_visible
from api.auth import ADMINS, REPORT_READERS
from api.openapi import problems
from api.params import Id
from api.problems import StrictBody

# Room for a comment well over the limit, so it gets a clear "at most N characters" error
# rather than a bare 413.
MAX_RESPONSE_BODY = 256 * 1024


class ResponseCreated(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    status: str


class ResponseController(Controller):
    path = "/responses"
    tags = ["responses"]

    @post(
        "/",
        summary="Submit survey answers",
        description="JSON `{token, nps, csat, comment}`. 201 once; 409 if the link was used.",
        guards=[ADMINS],
        request_max_body_size=MAX_RESPONSE_BODY,
        responses=problems(
            {
                404: "The token names no survey link",
                409: "The survey was already answered",
                410: "The survey link has expired",
                422: "The comment is over AFTERCARE_COMMENT_MAX_CHARS once trimmed",
            }
        ),
        status_code=201,
        dto=StrictBody[ResponseSubmission],
        return_dto=None,
    )
    async def submit(
        self,
        data: JSONBody[ResponseSubmission],
        settings: NamedDependency[Settings],
        clock: NamedDependency[Clock],
        outbox_relay: NamedDependency[OutboxRelay],
    ) -> ResponseCreated:
        answers = SurveyAnswers(nps=data.nps, csat=data.csat, comment=data.comment)
        response_id = await submit_response(
            data.token,
            answers,
            comment_max_chars=settings.comment_max_chars,
            clock=clock,
        )
        outbox_relay.wake()
        return ResponseCreated(id=response_id, status="pending")

    @get(
        "/{response_id:int}",
        summary="A response with its analysis once done (a lead: of their teams)",
        guards=[REPORT_READERS],
        responses=problems({404: "No response with this id"}),
    )
    async def read(self, response_id: Id, caller: NamedDependency[Caller]) -> ResponseView:
        await ensure_response_visible(response_id, caller.task_scope)
        return await get_response(response_id)
