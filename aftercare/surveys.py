"""Survey definitions (questions as data) and invitation links."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Literal

import msgspec

from aftercare.errors import AlreadyAnswered, LinkExpired, NotFound
from aftercare.tables import Invitation, Survey

TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


class Question(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    kind: Literal["nps", "rating", "text"]
    prompt: str
    required: bool = True
    min: int | None = None
    max: int | None = None
    low_label: str = ""
    high_label: str = ""


class SurveyDefinition(msgspec.Struct, frozen=True, kw_only=True):
    slug: str
    version: int
    title: str
    questions: tuple[Question, ...]


DEFAULT_SURVEY = SurveyDefinition(
    slug="after-case",
    version=1,
    title="How did we do?",
    questions=(
        Question(
            key="nps",
            kind="nps",
            prompt="How likely are you to recommend us to a friend or colleague?",
            min=0,
            max=10,
            low_label="Not at all likely",
            high_label="Extremely likely",
        ),
        Question(
            key="csat",
            kind="rating",
            prompt="How satisfied are you with how we handled your case?",
            min=1,
            max=5,
            low_label="Very dissatisfied",
            high_label="Very satisfied",
        ),
        Question(
            key="comment",
            kind="text",
            prompt="What could we have done better?",
            required=False,
        ),
    ),
)


class InvitationView(msgspec.Struct, frozen=True, kw_only=True):
    invitation_id: int
    case_id: int
    case_subject: str
    customer_name: str
    locale: str
    survey: SurveyDefinition
    answered: bool
    # After this the link takes no answers (None: links made before links expired).
    expires_at: dt.datetime | None = None

    def check_open(self, now: dt.datetime) -> None:
        """Raise unless the link still takes an answer: not answered, not expired."""
        if self.answered:
            raise AlreadyAnswered("This survey has already been answered. Thank you!")
        if link_has_expired(self.expires_at, now):
            raise LinkExpired("This survey link has expired.")


def link_has_expired(expires_at: dt.datetime | None, now: dt.datetime) -> bool:
    return expires_at is not None and now >= expires_at


def new_token() -> str:
    # 24 random bytes: unguessable, and URL-safe without escaping.
    return secrets.token_urlsafe(24)


def survey_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/s/{token}"


async def ensure_default_survey(now: dt.datetime | None = None) -> int:
    """Store the default survey definition if it is missing; return its id."""
    existing = await Survey.select(Survey.id).where(Survey.slug == DEFAULT_SURVEY.slug).first()
    if existing:
        return int(existing["id"])
    inserted = (
        await Survey.insert(
            Survey(
                slug=DEFAULT_SURVEY.slug,
                version=DEFAULT_SURVEY.version,
                title=DEFAULT_SURVEY.title,
                questions=msgspec.json.encode(DEFAULT_SURVEY.questions).decode(),
                created_at=now or dt.datetime.now(dt.UTC),
            )
        )
        .on_conflict(target=Survey.slug, action="DO NOTHING")
        .returning(Survey.id)
    )
    if inserted:
        return int(inserted[0]["id"])
    return await ensure_default_survey(now)


async def find_invitation(token: str) -> InvitationView:
    """The invitation behind a survey link, or NotFound for an unknown or malformed token."""
    if not TOKEN_PATTERN.match(token):
        raise NotFound("This survey link is not valid.")
    row = (
        await Invitation.select(
            Invitation.id,
            Invitation.answered_at,
            Invitation.expires_at,
            Invitation.support_case.id.as_alias("case_id"),
            Invitation.support_case.subject.as_alias("case_subject"),
            Invitation.support_case.customer.name.as_alias("customer_name"),
            Invitation.support_case.customer.locale.as_alias("locale"),
            Invitation.survey.slug.as_alias("slug"),
            Invitation.survey.version.as_alias("version"),
            Invitation.survey.title.as_alias("title"),
            Invitation.survey.questions.as_alias("questions"),
        )
        .where(Invitation.token == token)
        .first()
    )
    if row is None:
        raise NotFound("This survey link is not valid.")
    definition = SurveyDefinition(
        slug=row["slug"],
        version=row["version"],
        title=row["title"],
        questions=msgspec.json.decode(row["questions"], type=tuple[Question, ...]),
    )
    return InvitationView(
        invitation_id=row["id"],
        case_id=row["case_id"],
        case_subject=row["case_subject"],
        customer_name=row["customer_name"],
        locale=row["locale"] or "en",
        survey=definition,
        answered=row["answered_at"] is not None,
        expires_at=row["expires_at"],
    )
