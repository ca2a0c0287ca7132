"""People in several teams: they get and see the tasks of each of their teams, routing balances
over a team's members, tasks move only to members, and leaving a team hides its tasks."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aftercare.clock import FixedClock
from tests.conftest import TEST_DIR, TEST_SETTINGS, api_client, cli_environment, settings_with
from tests.helpers import ApiClient

AFTERCARE = str(Path(sys.executable).parent / "aftercare")


@pytest.fixture
def desk(db: None, clock: FixedClock) -> Iterator[ApiClient]:
    """Support and billing teams, and a fallback lead in neither."""
    with api_client(settings_with(fallback_owner_email="lead@example.org"), clock) as api:
        api.create_team("support")
        api.create_team("billing")
        _user(api, "lead@example.org", "lead", [])
        yield api


def _user(api: ApiClient, email: str, role: str, teams: list[str]) -> dict[str, Any]:
    body = {"email": email, "name": email.split("@")[0].title(), "role": role, "teams": teams}
    response = api.post("/api/v1/users", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _as(api: ApiClient, user: dict[str, Any]) -> dict[str, str]:
    issued = api.post(f"/api/v1/users/{user['id']}/tokens", json={"name": "test"})
    assert issued.status_code == 201, issued.text
    return {"Authorization": f"Bearer {issued.json()['token']}"}


def _detractor_task(api: ApiClient, case: str, team: str) -> dict[str, Any]:
    invitation = api.close_case(case, team=team)
    api.answer_survey_form(invitation["survey_url"], nps=1, csat=1, comment="")
    analysed = api.wait_until_analysed(api.response_id_of_case(invitation["case_id"]))
    return dict(api.get(f"/api/v1/tasks/{analysed['follow_up_task_id']}").json())


def _owner_of(api: ApiClient, task: dict[str, Any]) -> str | None:
    owner = api.get(f"/api/v1/tasks/{task['id']}").json()["owner"]
    return owner["email"] if owner else None


def test_a_user_in_two_teams_gets_and_sees_the_tasks_of_both(desk: ApiClient) -> None:
    both = _user(desk, "ann@example.org", "owner", ["support", "billing"])
    assert (both["teams"], both["team"]) == (["billing", "support"], "billing")

    support = _detractor_task(desk, "TWO-1", team="support")
    billing = _detractor_task(desk, "TWO-2", team="billing")

    assert _owner_of(desk, support) == _owner_of(desk, billing) == "ann@example.org"
    mine = _as(desk, both)
    listed = desk.http.get("/api/v1/tasks", headers=mine).json()
    assert sorted(task["team"]["slug"] for task in listed["items"]) == ["billing", "support"]
    for task in (support, billing):
        assert desk.http.get(f"/api/v1/tasks/{task['id']}", headers=mine).status_code == 200
    members = desk.http.get("/api/v1/owners", params={"team": "billing"}, headers=mine).json()
    assert [owner["email"] for owner in members] == ["ann@example.org"]


def test_routing_balances_a_teams_tasks_across_its_members(desk: ApiClient) -> None:
    # Bo is in both teams: billing's task counts against him when support's work is shared.
    ann = _user(desk, "ann@example.org", "owner", ["support"])
    bo = _user(desk, "bo@example.org", "owner", ["support", "billing"])
    # A lead in the team takes tasks by claiming them, never by routing.
    _user(desk, "lena@example.org", "lead", ["support"])
    _detractor_task(desk, "BAL-0", team="billing")

    owners = [_owner_of(desk, _detractor_task(desk, f"BAL-{n}", "support")) for n in (1, 2, 3)]

    assert owners == ["ann@example.org", "ann@example.org", "bo@example.org"]
    loads = {o["email"]: o["open_tasks"] for o in desk.get("/api/v1/owners").json()}
    assert loads[ann["email"]] == loads[bo["email"]] == 2


def test_a_task_moves_only_to_an_active_member_of_its_team(desk: ApiClient) -> None:
    ann = _user(desk, "ann@example.org", "owner", ["support"])
    billing_only = _user(desk, "bill@example.org", "owner", ["billing"])
    both = _user(desk, "cy@example.org", "owner", ["billing", "support"])
    viewer = _user(desk, "vic@example.org", "viewer", ["support"])
    task = _detractor_task(desk, "MOVE-1", team="support")
    assert _owner_of(desk, task) == ann["email"]

    for outsider in (billing_only, viewer):
        refused = desk.patch(f"/api/v1/tasks/{task['id']}", json={"owner_id": outsider["id"]})
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"] == "owner_id"
    assert _owner_of(desk, task) == ann["email"]
    moved = desk.patch(f"/api/v1/tasks/{task['id']}", json={"owner_id": both["id"]})
    assert moved.status_code == 200 and moved.json()["owner"]["email"] == "cy@example.org"


def test_leaving_a_team_moves_nothing_but_hides_its_tasks(desk: ApiClient) -> None:
    ann = _user(desk, "ann@example.org", "owner", ["support", "billing"])
    hers = _detractor_task(desk, "LEAVE-1", team="billing")
    _user(desk, "bo@example.org", "owner", ["billing"])
    bos = _detractor_task(desk, "LEAVE-2", team="billing")
    assert (_owner_of(desk, hers), _owner_of(desk, bos)) == ("ann@example.org", "bo@example.org")
    mine = _as(desk, ann)

    left = desk.patch(f"/api/v1/users/{ann['id']}", json={"teams": ["support"]})

    assert left.status_code == 200 and left.json()["teams"] == ["support"]
    # Her billing task stays hers (she still sees it: she owns it); no event was written.
    assert _owner_of(desk, hers) == "ann@example.org"
    events = desk.get(f"/api/v1/tasks/{hers['id']}/events").json()
    assert [event["kind"] for event in events] == ["created"]
    assert desk.http.get(f"/api/v1/tasks/{hers['id']}", headers=mine).status_code == 200
    # The rest of billing's work is no longer hers to see.
    assert desk.http.get(f"/api/v1/tasks/{bos['id']}", headers=mine).status_code == 404
    listed = desk.http.get("/api/v1/tasks", headers=mine).json()
    assert [task["id"] for task in listed["items"]] == [hers["id"]]


def test_an_owner_of_two_teams_going_away_hands_each_task_to_that_tasks_team(
    desk: ApiClient,
) -> None:
    ann = _user(desk, "ann@example.org", "owner", ["support", "billing"])
    support = _detractor_task(desk, "AWAY-1", team="support")
    billing = _detractor_task(desk, "AWAY-2", team="billing")
    _user(desk, "sue@example.org", "owner", ["support"])
    _user(desk, "bill@example.org", "owner", ["billing"])

    away = desk.patch(f"/api/v1/users/{ann['id']}", json={"away_until": "2099-01-01T00:00:00Z"})

    assert away.status_code == 200 and away.json()["open_tasks"] == 0
    assert _owner_of(desk, support) == "sue@example.org"
    assert _owner_of(desk, billing) == "bill@example.org"
    move = desk.get(f"/api/v1/tasks/{billing['id']}/events").json()[-1]
    assert move["kind"] == "owner_id_changed"
    assert move["data"]["rule"] == "team owner with the fewest open tasks"


def test_a_lead_changes_only_the_availability_of_their_teams_people(desk: ApiClient) -> None:
    lead = _user(desk, "lena@example.org", "lead", ["support"])
    ann = _user(desk, "ann@example.org", "owner", ["support"])
    bill = _user(desk, "bill@example.org", "owner", ["billing"])
    task = _detractor_task(desk, "LEAD-1", team="support")
    as_lead = _as(desk, lead)

    renamed = desk.http.patch(f"/api/v1/owners/{ann['id']}", headers=as_lead, json={"name": "A"})
    moved = desk.http.patch(
        f"/api/v1/owners/{ann['id']}", headers=as_lead, json={"team": "billing"}
    )
    outsider = desk.http.patch(
        f"/api/v1/owners/{bill['id']}", headers=as_lead, json={"active": False}
    )
    deactivated = desk.http.patch(
        f"/api/v1/owners/{ann['id']}", headers=as_lead, json={"active": False}
    )

    assert (renamed.status_code, moved.status_code, outsider.status_code) == (403, 403, 404)
    assert deactivated.status_code == 200 and deactivated.json()["active"] is False
    # No other owner in support: the task goes to the fallback lead, the move under her name.
    assert _owner_of(desk, task) == "lead@example.org"
    move = desk.get(f"/api/v1/tasks/{task['id']}/events").json()[-1]
    assert (move["kind"], move["actor"]) == ("owner_id_changed", "lena@example.org")
    assert desk.get(f"/api/v1/owners/{bill['id']}").json()["active"] is True


def test_the_owners_api_team_means_exactly_this_one_team(desk: ApiClient) -> None:
    ann = _user(desk, "ann@example.org", "owner", ["support", "billing"])

    one = desk.patch(f"/api/v1/owners/{ann['id']}", json={"team": "support"})
    assert (one.json()["team"], one.json()["teams"]) == ("support", ["support"])
    none = desk.patch(f"/api/v1/owners/{ann['id']}", json={"team": None})
    assert (none.json()["team"], none.json()["teams"]) == (None, [])
    unknown = desk.patch(f"/api/v1/users/{ann['id']}", json={"teams": ["support", "nope"]})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "teams"
    assert desk.get(f"/api/v1/users/{ann['id']}").json()["teams"] == []


def test_the_cli_puts_a_user_in_every_team_named(desk: ApiClient) -> None:
    env = cli_environment(AFTERCARE_DATABASE_URL=TEST_SETTINGS.database_url)
    created = subprocess.run(
        [AFTERCARE, "users", "create", "--email", "nia@example.org", "--role", "lead"]
        + ["--team", "support", "--team", "billing"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=TEST_DIR,
    )

    assert created.returncode == 0, created.stderr
    assert "created lead nia@example.org" in created.stdout
    assert "teams billing, support" in created.stdout
    users = {user["email"]: user for user in desk.get("/api/v1/users").json()}
    assert users["nia@example.org"]["teams"] == ["billing", "support"]


def test_a_lead_reads_the_cases_and_responses_of_their_teams_only(desk: ApiClient) -> None:
    _user(desk, "ann@example.org", "owner", ["support"])
    task = _detractor_task(desk, "CASE-1", team="support")
    case_path = f"/api/v1/cases/{task['case']['id']}"
    response_path = f"/api/v1/responses/{task['answers']['response_id']}"
    support_lead = _as(desk, _user(desk, "sue@example.org", "lead", ["support"]))
    billing_lead = _as(desk, _user(desk, "bill@example.org", "lead", ["billing"]))

    for path in (case_path, response_path):
        assert desk.http.get(path, headers=support_lead).status_code == 200
        assert desk.http.get(path, headers=billing_lead).status_code == 404
