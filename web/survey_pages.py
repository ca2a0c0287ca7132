"""The customer's survey page: works on a phone, without JavaScript, without an account."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from aftercare.clock import Clock
from aftercare.errors import AlreadyAnswered, DomainError, InvalidInput, LinkExpired, NotFound
from aftercare.responses import SurveyAnswers, submit_response
from aftercare.settings import Settings
from aftercare.surveys import InvitationView, find_invitation
from worker.housekeeping import Housekeeper

MAX_FORM_BODY = 256 * 1024


class SurveyPageController(Controller):
    path = "/s"
    include_in_schema = False

    @get("/{token:str}")
    async def show(
        self,
        token: FromPath[str],
        settings: NamedDependency[Settings],
        clock: NamedDependency[Clock],
    ) -> Template:
        invitation = await find_invitation(token)
        invitation.check_open(clock())
        return _survey_form(invitation, settings, values={}, errors={})

    @post("/{token:str}", request_max_body_size=MAX_FORM_BODY)
    async def submit(
        self,
        token: FromPath[str],
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        clock: NamedDependency[Clock],
        housekeeper: NamedDependency[Housekeeper],
    ) -> Template | Redirect:
        invitation = await find_invitation(token)
        invitation.check_open(clock())
        form = await request.form()
        values = {key: str(form.get(key, "")) for key in ("nps", "csat", "comment")}
        answers, errors = parse_answers(values, settings.comment_max_chars)
        if answers is None:
            return _survey_form(invitation, settings, values=values, errors=errors, status=400)
        try:
            await submit_response(
                token, answers, comment_max_chars=settings.comment_max_chars, clock=clock
            )
        except InvalidInput as error:
            errors = {error.field: error.detail}
            return _survey_form(invitation, settings, values=values, errors=errors, status=400)
        housekeeper.wake()
        # Post/redirect/get: reloading the thank-you page must not submit again.
        return Redirect(f"/s/{token}/thanks", status_code=HTTP_303_SEE_OTHER)

    @get("/{token:str}/thanks")
    async def thanks(self, token: FromPath[str]) -> Template:
        invitation = await find_invitation(token)
        if not invitation.answered:
            raise NotFound("This survey has not been answered yet.")
        return Template("thanks.html", context={"invitation": invitation})


@get("/", include_in_schema=False)
async def home() -> Template:
    return Template("home.html")


def parse_answers(
    values: dict[str, str], comment_max_chars: int
) -> tuple[SurveyAnswers | None, dict[str, str]]:
    """Form fields to answers, or the message for each field that is wrong."""
    errors: dict[str, str] = {}
    nps = _choice(values["nps"], 0, 10)
    if nps is None:
        errors["nps"] = "Choose a number from 0 to 10."
    csat = _choice(values["csat"], 1, 5)
    if csat is None:
        errors["csat"] = "Choose how satisfied you are, from 1 to 5."
    comment = values["comment"].strip()
    if len(comment) > comment_max_chars:
        errors["comment"] = (
            f"Please keep your answer under {comment_max_chars} characters (it has {len(comment)})."
        )
    if errors or nps is None or csat is None:
        return None, errors
    return SurveyAnswers(nps=nps, csat=csat, comment=comment), {}


def _choice(raw: str, low: int, high: int) -> int | None:
    if not raw.strip().isdigit():
        return None
    value = int(raw)
    return value if low <= value <= high else None


def _survey_form(
    invitation: InvitationView,
    settings: NamedDependency[Settings],
    *,
    values: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
) -> Template:
    return Template(
        "survey.html",
        context={
            "invitation": invitation,
            "questions": {question.key: question for question in invitation.survey.questions},
            "values": values,
            "errors": errors,
            "comment_max_chars": settings.comment_max_chars,
        },
        status_code=status,
    )


def error_page(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    """Pages answer errors with a page, not JSON."""
    if isinstance(error, AlreadyAnswered):
        status, title, detail = 409, "Already answered", "Thank you — we already have your answers."
    elif isinstance(error, LinkExpired):
        status, title = 410, "This survey has closed"
        detail = "This survey link has expired, so it no longer takes answers. Thank you anyway."
    elif isinstance(error, DomainError):
        status = 404 if isinstance(error, NotFound) else 400
        title, detail = error.title, error.detail
    elif isinstance(error, HTTPException):
        status, title, detail = error.status_code, "Something went wrong", str(error.detail)
        if status == 413:
            detail = "Your answer is too long to send. Please shorten it and try again."
    else:
        raise error
    return Template("error.html", context={"title": title, "detail": detail}, status_code=status)
