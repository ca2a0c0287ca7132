"""Demo data: teams, owners, closed cases and a few answers, so the product shows itself."""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets

import msgspec

from aftercare.accounts import Role, set_password
from aftercare.cases import ClosedCase, CustomerDetails, record_closed_case
from aftercare.clock import Clock
from aftercare.directory import NewTeam, NewUser, create_owner, create_team
from aftercare.errors import AlreadyAnswered, Conflict
from aftercare.responses import SurveyAnswers, submit_response

DEMO_LEAD_EMAIL = "lead@example.com"

TEAMS = [("support", "Customer Support"), ("billing", "Billing"), ("delivery", "Delivery")]
DEMO_ADMIN_EMAIL = "admin@example.com"
# (email, name, teams, role): the lead leads two teams, Priya works in support and delivery.
PEOPLE: list[tuple[str, str, list[str], Role]] = [
    (DEMO_ADMIN_EMAIL, "Ada Admin", [], "admin"),
    (DEMO_LEAD_EMAIL, "Lena Lead", ["support", "billing"], "lead"),
    ("sam@example.com", "Sam Okafor", ["support"], "owner"),
    ("priya@example.com", "Priya Shah", ["support", "delivery"], "owner"),
    ("marco@example.com", "Marco Rossi", ["billing"], "owner"),
    ("dana@example.com", "Dana Kim", ["delivery"], "owner"),
]
# Who gets a password printed by `aftercare demo`: an admin, a lead and two owners.
DEMO_LOGINS = [DEMO_ADMIN_EMAIL, DEMO_LEAD_EMAIL, "sam@example.com", "marco@example.com"]
# (external id, subject, customer, team, agent, answers or None for an open invitation)
CASES: list[tuple[str, str, tuple[str, str], str, str, SurveyAnswers | None]] = [
    (
        "DEMO-1001",
        "Router keeps dropping",
        ("alex@example.org", "Alex"),
        "support",
        "Sam",
        SurveyAnswers(
            nps=2,
            csat=1,
            comment="Third call this month and the internet still drops "
            "every evening. Nobody seems to actually fix anything.",
        ),
    ),
    (
        "DEMO-1002",
        "Charged twice in October",
        ("bea@example.org", "Bea"),
        "billing",
        "Marco",
        SurveyAnswers(
            nps=9,
            csat=5,
            comment="Marco refunded the double charge in one call. Quick and friendly, thank you!",
        ),
    ),
    (
        "DEMO-1003",
        "Parcel never arrived",
        ("chen@example.org", "Chen"),
        "delivery",
        "Dana",
        SurveyAnswers(
            nps=7,
            csat=3,
            comment="The replacement is on its way but I had to chase "
            "it three times and nobody called me back as promised.",
        ),
    ),
    (
        "DEMO-1004",
        "Password reset",
        ("dev@example.org", "Dev"),
        "support",
        "Priya",
        SurveyAnswers(nps=10, csat=5, comment="Solved my problem in two minutes."),
    ),
    (
        "DEMO-1005",
        "Invoice address wrong",
        ("eli@example.org", "Eli"),
        "billing",
        "Marco",
        SurveyAnswers(nps=8, csat=4, comment=""),
    ),
    ("DEMO-1006", "Upgrade to fibre", ("fay@example.org", "Fay"), "support", "Sam", None),
    ("DEMO-1007", "Late delivery", ("gus@example.org", "Gus"), "delivery", "Dana", None),
    (
        "DEMO-1008",
        "Refund for cancelled order",
        ("hana@example.org", "Hana"),
        "billing",
        "Marco",
        None,
    ),
]


class DemoResult(msgspec.Struct, kw_only=True):
    open_survey_urls: list[str]
    answered: int
    # email -> a password set just now (each run sets new ones).
    logins: dict[str, str]


async def seed_demo(*, public_url: str, clock: Clock) -> DemoResult:
    """Seed the demo data; running it twice changes nothing but the printed passwords."""
    now = clock()
    for slug, name in TEAMS:
        with contextlib.suppress(Conflict):
            await create_team(NewTeam(slug=slug, name=name), now=now)
    for email, name, teams, role in PEOPLE:
        with contextlib.suppress(Conflict):
            await create_owner(NewUser(email=email, name=name, teams=teams, role=role), now=now)
    logins = {email: secrets.token_urlsafe(12) for email in DEMO_LOGINS}
    for email, password in logins.items():
        await set_password(email, password)
    open_urls: list[str] = []
    answered = 0
    for index, (external_id, subject, (email, name), team, agent, answers) in enumerate(CASES):
        closed_case = ClosedCase(
            external_id=external_id,
            subject=subject,
            customer=CustomerDetails(email=email, name=name),
            team=team,
            agent=agent,
            closed_at=now - dt.timedelta(hours=len(CASES) - index),
        )
        invitation, _ = await record_closed_case(closed_case, public_url=public_url, clock=clock)
        if answers is None:
            open_urls.append(invitation.survey_url)
            continue
        token = invitation.survey_url.rsplit("/", 1)[1]
        with contextlib.suppress(AlreadyAnswered):
            await submit_response(token, answers, comment_max_chars=5000, clock=clock)
        answered += 1
    return DemoResult(open_survey_urls=open_urls, answered=answered, logins=logins)
