"""The customer's survey page: works on a phone, without JavaScript, without an account."""

from __future__ import annotations

import logging
import re
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from aftercare.clock import Clock
from aftercare.db import UNREACHABLE_RETRY_AFTER_SECONDS, is_database_unavailable
from aftercare.errors import AlreadyAnswered, DomainError, InvalidInput, LinkExpired, NotFound
from aftercare.fields import has_control_characters
from aftercare.outbox import OutboxRelay
from aftercare.responses import SurveyAnswers, submit_response
from aftercare.settings import Settings
from aftercare.surveys import DEFAULT_SURVEY, InvitationView, find_invitation

log = logging.getLogger(__name__)

MAX_FORM_BODY = 256 * 1024
ANSWER_FIELDS = ("nps", "csat", "comment")
# A score is a plain number: "²", "①" or "٣" are digits to str.isdigit, not to a customer.
SCORE = re.compile(r"[0-9]{1,2}")
# Litestar's words when a form post lacks a valid CSRF token.
CSRF_REFUSED = "CSRF token verification failed"
NOT_SAVED = "We could not save your answer just now. Please try again in a minute."


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
        outbox_relay: NamedDependency[OutboxRelay],
        request_id: NamedDependency[str],
    ) -> Template | Redirect:
        form = await request.form()
        values = {key: str(form.get(key, "")) for key in ANSWER_FIELDS}
        invitation: InvitationView | None = None
        try:
            invitation = await find_invitation(token)
            invitation.check_open(clock())
            answers, errors = parse_answers(values, settings.comment_max_chars)
            if answers is None:
                return _survey_form(invitation, settings, values=values, errors=errors, status=400)
            await submit_response(
                token, answers, comment_max_chars=settings.comment_max_chars, clock=clock
            )
        except InvalidInput as error:
            errors = {error.field: error.detail}
            return _survey_form(invitation, settings, values=values, errors=errors, status=400)
        except Exception as error:
            if not is_database_unavailable(error):
                raise
            # The customer keeps their answers and sends them again; we keep the traceback.
            log.warning("survey answers not saved [request_id=%s]", request_id, exc_info=error)
            return _survey_form(
                invitation, settings, values=values, errors={}, not_saved=True, status=503
            )
        outbox_relay.wake()
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
    if has_control_characters(comment):
        errors["comment"] = (
            "Your answer contains invisible control characters we cannot store. "
            "Please remove them and try again."
        )
    elif len(comment) > comment_max_chars:
        errors["comment"] = (
            f"Please keep your answer under {comment_max_chars} characters (it has {len(comment)})."
        )
    if errors or nps is None or csat is None:
        return None, errors
    return SurveyAnswers(nps=nps, csat=csat, comment=comment), {}


def _choice(raw: str, low: int, high: int) -> int | None:
    if not SCORE.fullmatch(raw.strip()):
        return None
    value = int(raw)
    return value if low <= value <= high else None


def _survey_form(
    invitation: InvitationView | None,
    settings: NamedDependency[Settings],
    *,
    values: dict[str, str],
    errors: dict[str, str],
    not_saved: bool = False,
    status: int = 200,
) -> Template:
    """The form; without the invitation (the database is unavailable), the default survey's."""
    survey = invitation.survey if invitation else DEFAULT_SURVEY
    return Template(
        "survey.html",
        context={
            "invitation": invitation,
            "survey": survey,
            "questions": {question.key: question for question in survey.questions},
            "values": values,
            "errors": errors,
            "not_saved": NOT_SAVED if not_saved else "",
            "comment_max_chars": settings.comment_max_chars,
        },
        status_code=status,
        headers={"Retry-After": str(UNREACHABLE_RETRY_AFTER_SECONDS)} if not_saved else None,
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
        elif status == 429:
            title = "Too many attempts"
            detail = "Please wait a little and try again."
        elif status == 403:
            title = "Not allowed"
            if detail == CSRF_REFUSED:
                detail = "This form has expired or came from another page. Reload and try again."
        elif status == 503:
            title, detail = "Please try again soon", "We cannot reach our records just now."
        elif status >= 500:
            detail = "Something went wrong on our side. We have been told about it."
    else:
        raise error
    # A 5xx names its request id (see api.problems), for anyone who reports it.
    extra = getattr(error, "extra", None)
    reference = extra.get("request_id", "") if isinstance(extra, dict) else ""
    return Template(
        "error.html",
        context={"title": title, "detail": detail, "reference": reference},
        status_code=status,
        headers=error.headers if isinstance(error, HTTPException) else None,
    )
