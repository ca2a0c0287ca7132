"""Owners who leave or go away hand their open tasks on: deactivation and away time move them
to the team's other available owners by the balancing rule, each move an event."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from aftercare.clock import FixedClock
from aftercare.tables import Owner
from tests.conftest import PINNED_NOW, api_client, run, settings_with
from tests.helpers import ApiClient

CLOSED = PINNED_NOW



@pytest.fixture
def desk(db: None, clock: FixedClock) -> Iterator[ApiClient]:
    settings = settings_with(fallback_owner_email="lead@example.org")
    with api_client(settings, clock) as api:
        api.create_team("support")
        api.create_owner("lead@example.org")
        yield api


def _detractor_tasks(api: ApiClient, count: int, prefix: str) -> list[dict[str, Any]]:
    tasks = []
    for number in range(count):
        invitation = api.close_case(f"{prefix}-{number}", team="support")
        api.answer_survey_form(invitation["survey_url"], nps=1, csat=1, comment="")
        analysed = api.wait_until_analysed(api.response_id_of_case(invitation["case_id"]))
        tasks.append(api.get(f"/api/v1/tasks/{analysed['follow_up_task_id']}").json())
    return tasks


def _owner_of(api: ApiClient, task: dict[str, Any]) -> str | None:
    owner = api.get(f"/api/v1/tasks/{task['id']}").json()["owner"]
    return owner["email"] if owner else None


def _moves(api: ApiClient, task: dict[str, Any]) -> list[dict[str, Any]]:
    events = api.get(f"/api/v1/tasks/{task['id']}/events").json()
    return [event["data"] for event in events if event["kind"] == "owner_id_changed"]


def test_deactivating_an_owner_spreads_their_open_tasks_over_the_team(desk: ApiClient) -> None:
    ann = desk.create_owner("ann@example.org", team="support")
    tasks = _detractor_tasks(desk, 4, "DEACT")
    assert {_owner_of(desk, task) for task in tasks} == {"ann@example.org"}
    bo = desk.create_owner("bo@example.org", team="support")
    cy = desk.create_owner("cy@example.org", team="support")
    done = tasks[0]
    desk.patch(f"/api/v1/tasks/{done['id']}", json={"status": "in_progress"})
    resolved = desk.patch(
        f"/api/v1/tasks/{done['id']}",
        json={"status": "resolved", "root_cause": "other", "resolution_note": "Called back."},
    )
    assert resolved.status_code == 200

    left = desk.patch(f"/api/v1/owners/{ann['id']}", json={"active": False})

    assert left.status_code == 200 and left.json()["open_tasks"] == 0
    assert _owner_of(desk, done) == "ann@example.org"  # history stays with who resolved it
    new_owners = [_owner_of(desk, task) for task in tasks[1:]]
    assert new_owners == ["bo@example.org", "cy@example.org", "bo@example.org"]
    for task, email in zip(tasks[1:], new_owners, strict=True):
        [move] = _moves(desk, task)
        after = bo["id"] if email == "bo@example.org" else cy["id"]
        assert move == {
            "before": ann["id"],
            "after": after,
            "reason": "owner deactivated",
            "rule": "team owner with the fewest open tasks",
        }
    # Deactivating again moves nothing and writes nothing.
    desk.patch(f"/api/v1/owners/{ann['id']}", json={"active": False, "name": "Ann"})
    assert all(len(_moves(desk, task)) == 1 for task in tasks[1:])


def test_an_owner_away_hands_on_their_tasks_and_gets_none_until_back(
    desk: ApiClient, clock: FixedClock
) -> None:
    ann = desk.create_owner("ann@example.org", team="support")
    [task] = _detractor_tasks(desk, 1, "AWAY")
    desk.create_owner("bo@example.org", team="support")
    back = CLOSED + dt.timedelta(days=3)

    away = desk.patch(f"/api/v1/owners/{ann['id']}", json={"away_until": back.isoformat()})

    assert away.status_code == 200 and away.json()["away_until"] == "2026-12-04T09:00:00Z"
    assert _owner_of(desk, task) == "bo@example.org"
    assert _moves(desk, task)[0]["reason"] == "owner away until 2026-12-04T09:00:00+00:00"
    # While away, new work skips her even though she has fewer open tasks.
    assert [_owner_of(desk, t) for t in _detractor_tasks(desk, 1, "AWAY-NEW")] == [
        "bo@example.org"
    ]
    clock.advance(days=3)
    assert [_owner_of(desk, t) for t in _detractor_tasks(desk, 1, "AWAY-BACK")] == [
        "ann@example.org"
    ]


def test_with_no_one_left_in_the_team_tasks_go_to_the_fallback_owner(desk: ApiClient) -> None:
    ann = desk.create_owner("ann@example.org", team="support")
    [task] = _detractor_tasks(desk, 1, "ALONE")

    desk.patch(f"/api/v1/owners/{ann['id']}", json={"active": False})

    assert _owner_of(desk, task) == "lead@example.org"
    assert _moves(desk, task)[0]["rule"] == "fallback owner"


def test_an_away_time_without_a_time_zone_is_refused(desk: ApiClient) -> None:
    ann = desk.create_owner("ann@example.org", team="support")
    refused = desk.patch(f"/api/v1/owners/{ann['id']}", json={"away_until": "2026-12-04T09:00"})
    assert refused.status_code == 400
    stored = run(Owner.select(Owner.away_until).where(Owner.id == ann["id"]).first())
    assert stored == {"away_until": None}
