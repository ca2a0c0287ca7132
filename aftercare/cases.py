"""A support case closed: remember the case and its customer, and invite them to a survey."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

from aftercare.clock import Clock
from aftercare.db import write_transaction
from aftercare.surveys import ensure_default_survey, new_token, survey_url
from aftercare.tables import Customer, Invitation, SupportCase, Team

EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]{1,255}$"
LOCALE_PATTERN = r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8}){0,3}$"

Email = Annotated[str, msgspec.Meta(pattern=EMAIL_PATTERN, max_length=320)]


class CustomerDetails(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    email: Email
    name: Annotated[str, msgspec.Meta(max_length=200)] = ""
    locale: Annotated[str, msgspec.Meta(pattern=LOCALE_PATTERN)] = "en"


class ClosedCase(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """What a helpdesk tells us when a case closes."""

    external_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    customer: CustomerDetails
    subject: Annotated[str, msgspec.Meta(max_length=500)] = ""
    team: Annotated[str, msgspec.Meta(max_length=64)] = ""
    agent: Annotated[str, msgspec.Meta(max_length=200)] = ""
    closed_at: Annotated[dt.datetime, msgspec.Meta(tz=True)] | None = None


class CaseInvitation(msgspec.Struct, frozen=True, kw_only=True):
    case_id: int
    invitation_id: int
    survey_url: str


async def record_closed_case(
    case: ClosedCase, *, public_url: str, clock: Clock
) -> tuple[CaseInvitation, bool]:
    """Store a closed case and its survey invitation; the bool says whether it is new.

    The same external_id twice returns the first invitation: helpdesks retry webhooks.
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
                Invitation(support_case=case_id, survey=survey_id, token=token, created_at=now)
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
