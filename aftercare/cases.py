"""A support case closed: remember the case and its customer, and invite them to a survey."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

from aftercare.clock import Clock
from aftercare.db import write_transaction
from aftercare.errors import NotFound
from aftercare.fields import Email, Text
from aftercare.settings import DEFAULT_SURVEY_LINK_DAYS
from aftercare.surveys import ensure_default_survey, new_token, survey_url
from aftercare.tables import Customer, Invitation, SupportCase, SurveyResponse, Team

LOCALE_PATTERN = r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8}){0,3}$"


class CustomerDetails(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    email: Email
    name: Annotated[Text, msgspec.Meta(max_length=200)] = ""
    locale: Annotated[str, msgspec.Meta(pattern=LOCALE_PATTERN)] = "en"


class ClosedCase(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """What a helpdesk tells us when a case closes."""

    external_id: Annotated[Text, msgspec.Meta(min_length=1, max_length=200)]
    customer: CustomerDetails
    subject: Annotated[Text, msgspec.Meta(max_length=500)] = ""
    team: Annotated[Text, msgspec.Meta(max_length=64)] = ""
    agent: Annotated[Text, msgspec.Meta(max_length=200)] = ""
    closed_at: Annotated[dt.datetime, msgspec.Meta(tz=True)] | None = None


class CaseInvitation(msgspec.Struct, frozen=True, kw_only=True):
    case_id: int
    invitation_id: int
    survey_url: str


class CaseView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    external_id: str
    subject: str
    team: str
    agent: str
    closed_at: dt.datetime
    customer: CustomerDetails
    invitation_id: int
    survey_url: str
    answered_at: dt.datetime | None
    response_id: int | None


async def record_closed_case(
    case: ClosedCase,
    *,
    public_url: str,
    clock: Clock,
    link_lifetime: dt.timedelta = dt.timedelta(days=DEFAULT_SURVEY_LINK_DAYS),
) -> tuple[CaseInvitation, bool]:
    """Store a closed case and its survey invitation; the bool says whether it is new.

    The same external_id twice returns the first invitation: helpdesks retry webhooks. The
    link takes answers for `link_lifetime` from now.
    """
    existing = await _invitation_for_case(case.external_id, public_url)
    if existing:
        return existing, False
    now = clock()
    survey_id = await ensure_default_survey(now)
    async with write_transaction():
        customer_id = await _upsert_customer(case.customer, now)
        team = await Team.select(Team.id).where(Team.slug == case.team.strip().lower()).first()
        inserted = (
            await SupportCase.insert(
                SupportCase(
                    external_id=case.external_id,
                    subject=case.subject,
                    customer=customer_id,
                    team=team["id"] if team else None,
                    team_key=case.team,
                    agent=case.agent,
                    closed_at=case.closed_at or now,
                    created_at=now,
                )
            )
            .on_conflict(target=SupportCase.external_id, action="DO NOTHING")
            .returning(SupportCase.id)
        )
        if inserted:
            case_id = inserted[0]["id"]
            token = new_token()
            invitation = await Invitation.insert(
                Invitation(
                    support_case=case_id,
                    survey=survey_id,
                    token=token,
                    created_at=now,
                    expires_at=now + link_lifetime,
                )
            ).returning(Invitation.id)
            created = CaseInvitation(
                case_id=case_id,
                invitation_id=invitation[0]["id"],
                survey_url=survey_url(public_url, token),
            )
    if inserted:
        return created, True
    # Another request stored the same case between our check and our insert.
    raced = await _invitation_for_case(case.external_id, public_url)
    assert raced is not None
    return raced, False


async def get_case(case_id: int, *, public_url: str) -> CaseView:
    """A case with its customer, its survey link and, once answered, its response id."""
    row = (
        await Invitation.select(
            Invitation.id,
            Invitation.token,
            Invitation.answered_at,
            *Invitation.support_case.all_columns(),
            Invitation.support_case.customer.email.as_alias("customer_email"),
            Invitation.support_case.customer.name.as_alias("customer_name"),
            Invitation.support_case.customer.locale.as_alias("customer_locale"),
        )
        .where(Invitation.support_case.id == case_id)
        .first()
    )
    if row is None:
        raise NotFound(f"No case with id {case_id}.")
    response = (
        await SurveyResponse.select(SurveyResponse.id)
        .where(SurveyResponse.invitation == row["id"])
        .first()
    )
    return CaseView(
        id=row["support_case.id"],
        external_id=row["support_case.external_id"],
        subject=row["support_case.subject"],
        team=row["support_case.team_key"],
        agent=row["support_case.agent"],
        closed_at=row["support_case.closed_at"],
        customer=CustomerDetails(
            email=row["customer_email"], name=row["customer_name"], locale=row["customer_locale"]
        ),
        invitation_id=row["id"],
        survey_url=survey_url(public_url, row["token"]),
        answered_at=row["answered_at"],
        response_id=response["id"] if response else None,
    )


async def _invitation_for_case(external_id: str, public_url: str) -> CaseInvitation | None:
    row = (
        await Invitation.select(
            Invitation.id, Invitation.token, Invitation.support_case.id.as_alias("case_id")
        )
        .where(Invitation.support_case.external_id == external_id)
        .first()
    )
    if row is None:
        return None
    return CaseInvitation(
        case_id=row["case_id"],
        invitation_id=row["id"],
        survey_url=survey_url(public_url, row["token"]),
    )


async def _upsert_customer(details: CustomerDetails, now: dt.datetime) -> int:
    rows = (
        await Customer.insert(
            Customer(
                email=details.email.lower(),
                name=details.name,
                locale=details.locale,
                created_at=now,
            )
        )
        .on_conflict(
            target=Customer.email,
            action="DO UPDATE",
            values=[Customer.name, Customer.locale],
        )
        .returning(Customer.id)
    )
    return int(rows[0]["id"])
