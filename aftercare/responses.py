"""A customer answers a survey: store the answer once and ask for its analysis."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec

from aftercare.clock import Clock
from aftercare.db import write_transaction
from aftercare.errors import AlreadyAnswered, InvalidInput, LinkExpired, NotFound
from aftercare.fields import TEXT_RULE, Text, has_control_characters
from aftercare.outbox import ANALYSE_RESPONSES, add_message
from aftercare.surveys import TOKEN_PATTERN, link_has_expired
from aftercare.tables import Analysis, FollowUpTask, Invitation, SurveyResponse, TaskEvent

Nps = Annotated[int, msgspec.Meta(ge=0, le=10)]
Csat = Annotated[int, msgspec.Meta(ge=1, le=5)]

# The task event that adds a customer's later negative response to their open task.
RESPONSE_ATTACHED = "response_attached"


class SurveyAnswers(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    nps: Nps
    csat: Csat
    comment: Text = ""


class ResponseSubmission(SurveyAnswers, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A survey answer sent to the JSON API, with the token from the survey link."""

    token: Annotated[Text, msgspec.Meta(max_length=64)]


class SentenceView(msgspec.Struct, frozen=True, kw_only=True):
    text: str
    sentiment_label: str | None
    sentiment_score: float | None
    topics: list[str]


class ResponseView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    case_id: int
    invitation_id: int
    nps: int | None
    csat: int | None
    comment: str
    submitted_at: dt.datetime
    status: str
    sentiment_label: str | None = None
    sentiment_score: float | None = None
    model_version: str | None = None
    analysed_at: dt.datetime | None = None
    negative: bool | None = None
    negative_reasons: list[str] = []
    # ISO 639-1; when the model cannot judge the language, sentiment stays empty and says so.
    language: str | None = None
    sentiment_note: str | None = None
    # Topic -> negative | neutral | positive | mixed, from the sentences that mention it.
    aspects: dict[str, str] = {}
    sentences: list[SentenceView] = []
    # Why the analysis failed, when status is "failed" (the scores alone then decided).
    analysis_error: str | None = None
    follow_up_task_id: int | None = None


class ResponseAttached(msgspec.Struct, frozen=True, kw_only=True):
    """The data of a `response_attached` task event."""

    response_id: int
    case_id: int
    reasons: list[str]


class CommentReading(msgspec.Struct, frozen=True, kw_only=True):
    """What the analysis read in a comment: its language, each topic's sentiment, sentences."""

    language: str | None
    # Set when the model cannot judge the comment's language (the scores alone decided).
    sentiment_note: str | None
    aspects: dict[str, str]
    sentences: list[SentenceView]


def comment_reading(analysis: dict[str, Any]) -> CommentReading:
    """Read a stored Analysis row's language and details."""
    details = msgspec.json.decode(analysis["details"])
    unsupported = details.get("language_supported") is False
    return CommentReading(
        language=analysis["language"] or None,
        sentiment_note="unsupported language" if unsupported else None,
        aspects=details.get("aspects", {}),
        sentences=msgspec.convert(details.get("sentences", []), list[SentenceView]),
    )


def clean_comment(comment: str, max_chars: int) -> str:
    """The comment as stored: trimmed; refused with control characters or over the limit."""
    if has_control_characters(comment):
        raise InvalidInput("comment", TEXT_RULE)
    cleaned = comment.strip()
    if len(cleaned) > max_chars:
        raise InvalidInput(
            "comment", f"must be at most {max_chars} characters (got {len(cleaned)})"
        )
    return cleaned


async def submit_response(
    token: str, answers: SurveyAnswers, *, comment_max_chars: int, clock: Clock
) -> int:
    """Store a customer's answers and request their analysis; return the response id.

    The response row and its outbox message are written in one transaction. A link answers
    once: a second submit raises AlreadyAnswered and leaves the stored answer unchanged.
    """
    comment = clean_comment(answers.comment, comment_max_chars)
    if not TOKEN_PATTERN.match(token):
        raise NotFound("This survey link is not valid.")
    now = clock()
    async with write_transaction():
        invitation = (
            await Invitation.select(
                Invitation.id,
                Invitation.answered_at,
                Invitation.expires_at,
                Invitation.support_case,
            )
            .where(Invitation.token == token)
            .first()
        )
        if invitation is None:
            raise NotFound("This survey link is not valid.")
        if invitation["answered_at"] is not None:
            raise AlreadyAnswered("This survey has already been answered. Thank you!")
        if link_has_expired(invitation["expires_at"], now):
            raise LinkExpired("This survey link has expired.")
        inserted = (
            await SurveyResponse.insert(
                SurveyResponse(
                    invitation=invitation["id"],
                    support_case=invitation["support_case"],
                    nps=answers.nps,
                    csat=answers.csat,
                    comment=comment,
                    answers=msgspec.json.encode(
                        {"nps": answers.nps, "csat": answers.csat, "comment": comment}
                    ).decode(),
                    submitted_at=now,
                    status="pending",
                    analysis_requested_at=now,
                    analysis_attempts=0,
                )
            )
            .on_conflict(target=SurveyResponse.invitation, action="DO NOTHING")
            .returning(SurveyResponse.id)
        )
        if not inserted:
            raise AlreadyAnswered("This survey has already been answered. Thank you!")
        response_id = int(inserted[0]["id"])
        await Invitation.update({Invitation.answered_at: now}).where(
            Invitation.id == invitation["id"]
        )
        await add_message(ANALYSE_RESPONSES, {"response_ids": [response_id]}, now)
    return response_id


async def get_response(response_id: int) -> ResponseView:
    """A response with its analysis and follow-up task, once they exist."""
    row = (
        await SurveyResponse.select(
            *SurveyResponse.all_columns(exclude=[SurveyResponse.answers]),
        )
        .where(SurveyResponse.id == response_id)
        .first()
    )
    if row is None:
        raise NotFound(f"No response with id {response_id}.")
    analysis = await Analysis.select().where(Analysis.response == response_id).first()
    view = ResponseView(
        id=row["id"],
        case_id=row["support_case"],
        invitation_id=row["invitation"],
        nps=row["nps"],
        csat=row["csat"],
        comment=row["comment"],
        submitted_at=row["submitted_at"],
        status=row["status"],
        follow_up_task_id=await follow_up_task_of(response_id),
    )
    if analysis is None:
        return view
    reading = comment_reading(analysis)
    return msgspec.structs.replace(
        view,
        language=reading.language,
        sentiment_note=reading.sentiment_note,
        aspects=reading.aspects,
        sentences=reading.sentences,
        sentiment_label=analysis["sentiment_label"],
        sentiment_score=analysis["sentiment_score"],
        model_version=analysis["model_version"] or None,
        analysed_at=analysis["analysed_at"],
        negative=analysis["is_negative"],
        negative_reasons=msgspec.json.decode(analysis["negative_reasons"]),
        analysis_error=analysis["failure_reason"] or None,
    )


async def follow_up_task_of(response_id: int) -> int | None:
    """The task that follows a response up: the one it opened, else the one it was added to."""
    opened = (
        await FollowUpTask.select(FollowUpTask.id)
        .where(FollowUpTask.response == response_id)
        .first()
    )
    if opened is not None:
        return int(opened["id"])
    # Events carry the response id only in their data: read those of the customer's tasks.
    customer = SurveyResponse.select(SurveyResponse.support_case.customer).where(
        SurveyResponse.id == response_id
    )
    events = await TaskEvent.select(TaskEvent.task, TaskEvent.data).where(
        TaskEvent.kind == RESPONSE_ATTACHED, TaskEvent.task.support_case.customer.is_in(customer)
    )
    for event in events:
        if msgspec.json.decode(event["data"], type=ResponseAttached).response_id == response_id:
            return int(event["task"])
    return None
