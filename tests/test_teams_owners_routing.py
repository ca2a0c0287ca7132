"""Teams and owners over the API, and how follow-up tasks are routed among them."""

from __future__ import annotations

import datetime as dt

import pytest

from aftercare.clock import FixedClock
from aftercare.directory import ensure_fallback_owner
from aftercare.routing import choose_assignee
from aftercare.settings import SettingsError
from aftercare.tables import FollowUpTask, Owner, Team
from aftercare.teams import set_teams
from tests.conftest import run
from tests.helpers import ApiClient

NOW = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)


def test_teams_and_owners_are_managed_over_the_api(api: ApiClient) -> None:
    team = api.create_team("billing", "Billing")
    assert api.get("/api/v1/teams/billing").json() == team
    owner = api.create_owner("Ann@Example.com", team="billing", name="Ann")
    assert owner["email"] == "ann@example.com" and owner["team"] == "billing"
    assert owner["open_tasks"] == 0 and owner["active"] is True

    moved = api.patch(f"/api/v1/owners/{owner['id']}", json={"active": False, "team": None})
    assert moved.status_code == 200
    assert moved.json()["active"] is False and moved.json()["team"] is None
    assert [o["email"] for o in api.get("/api/v1/owners").json()] == ["ann@example.com"]
    assert api.get("/api/v1/owners", params={"team": "billing"}).json() == []


def test_duplicates_and_unknown_references_are_refused(api: ApiClient) -> None:
    api.create_team("billing")
    ann = api.create_owner("ann@example.com", team="billing")
    assert api.post("/api/v1/teams", json={"slug": "billing", "name": "Again"}).status_code == 409
    again = api.post("/api/v1/owners", json={"email": "ANN@example.com", "name": "Ann"})
    assert again.status_code == 409
    unknown = api.post(
        "/api/v1/owners", json={"email": "x@example.com", "name": "X", "team": "nope"}
    )
    # Well-formed but naming no team: 422, where a malformed slug is a 400.
    assert unknown.status_code == 422 and "nope" in unknown.json()["detail"]
    moved = api.patch(f"/api/v1/owners/{ann['id']}", json={"team": "nope"})
    assert moved.status_code == 422 and moved.json()["errors"][0]["field"] == "team"
    assert api.post("/api/v1/teams", json={"slug": "Bad Slug!", "name": "x"}).status_code == 400
    assert api.get("/api/v1/teams/nope").status_code == 404
    assert api.get("/api/v1/owners/999").status_code == 404
    assert api.patch("/api/v1/owners/999", json={"name": "Y"}).status_code == 404
    assert run(Owner.count()) == 1 and run(Team.count()) == 1


def test_routing_picks_the_active_team_owner_with_fewest_open_tasks(db: None) -> None:
    clock = FixedClock(NOW)
    team_id, ann, bo, cy = run(_team_with_owners(clock))
    # ann has two open tasks, bo one open and one resolved, cy is away (inactive).
    run(_give_tasks(ann, ["open", "in_progress"], clock))
    run(_give_tasks(bo, ["open", "resolved"], clock))
    assignment = run(choose_assignee(team_id, fallback_owner_email="", now=NOW))
    assert assignment.owner_id == bo
    assert assignment.rule == "team owner with the fewest open tasks"

    run(Owner.update({Owner.active: False}).where(Owner.id.is_in([ann, bo])))
    # Nobody active in the team, and the fallback owner is away too: unassigned, not lost.
    away = run(choose_assignee(team_id, fallback_owner_email="CY@example.com", now=NOW))
    assert away.owner_id is None and away.rule.startswith("unassigned")
    run(Owner.update({Owner.active: True}).where(Owner.id == cy))
    run(_leave_every_team(cy))
    fallback = run(choose_assignee(team_id, fallback_owner_email="CY@example.com", now=NOW))
    assert (fallback.owner_id, fallback.team_id, fallback.rule) == (cy, team_id, "fallback owner")
    nobody = run(choose_assignee(None, fallback_owner_email="ghost@example.com", now=NOW))
    assert nobody.owner_id is None and nobody.rule.startswith("unassigned")


async def _team_with_owners(clock: FixedClock) -> tuple[int, int, int, int]:
    team = await Team.insert(Team(slug="support", name="Support", created_at=clock())).returning(
        Team.id
    )
    ids = []
    for email, active in [
        ("ann@example.com", True),
        ("bo@example.com", True),
        ("cy@example.com", False),
    ]:
        row = await Owner.insert(
            Owner(email=email, name=email, active=active, created_at=clock())
        ).returning(Owner.id)
        await set_teams(row[0]["id"], [team[0]["id"]], now=clock())
        ids.append(row[0]["id"])
    return team[0]["id"], ids[0], ids[1], ids[2]


async def _leave_every_team(owner_id: int) -> None:
    await set_teams(owner_id, [], now=NOW)


async def _give_tasks(owner_id: int, statuses: list[str], clock: FixedClock) -> None:
    from aftercare.cases import ClosedCase, CustomerDetails, record_closed_case
    from aftercare.responses import SurveyAnswers, submit_response
    from tests.helpers import survey_token

    for status in statuses:
        external_id = f"LOAD-{owner_id}-{status}"
        invitation, _ = await record_closed_case(
            ClosedCase(external_id=external_id, customer=CustomerDetails(email="l@example.org")),
            public_url="http://x",
            clock=clock,
        )
        response_id = await submit_response(
            survey_token(invitation.survey_url),
            SurveyAnswers(nps=1, csat=1),
            comment_max_chars=10,
            clock=clock,
        )
        await FollowUpTask.insert(
            FollowUpTask(
                response=response_id,
                support_case=invitation.case_id,
                owner=owner_id,
                status=status,
                reasons="[]",
                due_at=clock(),
                created_at=clock(),
                updated_at=clock(),
            )
        )


def test_a_deactivated_fallback_owner_is_refused_at_start_up(api: ApiClient) -> None:
    owner = api.create_owner("fallback@example.org")
    assert api.patch(f"/api/v1/owners/{owner['id']}", json={"active": False}).status_code == 200
    with pytest.raises(SettingsError, match="deactivated owner"):
        run(ensure_fallback_owner("fallback@example.org", now=dt.datetime.now(dt.UTC)))
