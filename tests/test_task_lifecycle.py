"""An owner works a follow-up task: its states, its resolution rules, reassignment, notes and
contacts, each change an event; and the task list's strict filters."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from aftercare.clock import FixedClock
from aftercare.root_causes import DEFAULT_ROOT_CAUSES
from aftercare.tables import FollowUpTask, TaskEvent
from tests.conftest import PINNED_NOW, TEST_SETTINGS, api_client, run
from tests.helpers import ApiClient

CLOSED = PINNED_NOW



@pytest.fixture
def desk(db: None, clock: FixedClock) -> Iterator[ApiClient]:
    """The app on a pinned clock, with a support team of two owners and a billing team."""
    with api_client(TEST_SETTINGS, clock) as api:
        api.create_team("support")
        api.create_team("billing")
        api.create_owner("olivia@example.org", team="support")
        api.create_owner("oscar@example.org", team="support")
        api.create_owner("bill@example.org", team="billing")
        yield api


def _detractor_task(api: ApiClient, case: str, team: str = "support") -> dict[str, Any]:
    invitation = api.close_case(case, team=team)
    api.answer_survey_form(invitation["survey_url"], nps=2, csat=1, comment="Still broken.")
    analysed = api.wait_until_analysed(api.response_id_of_case(invitation["case_id"]))
    task = api.get(f"/api/v1/tasks/{analysed['follow_up_task_id']}").json()
    return dict(task)


def _patch(api: ApiClient, task: dict[str, Any], **changes: Any) -> Any:
    return api.patch(f"/api/v1/tasks/{task['id']}", json=changes)


def _events(api: ApiClient, task: dict[str, Any]) -> list[dict[str, Any]]:
    response = api.get(f"/api/v1/tasks/{task['id']}/events")
    assert response.status_code == 200, response.text
    return list(response.json())


def test_an_owner_works_a_task_to_resolved_and_the_events_tell_the_story(
    desk: ApiClient, clock: FixedClock
) -> None:
    task = _detractor_task(desk, "LIFE-1")
    assert task["status"] == "open" and task["priority"] == "P2"
    assert task["analysis"]["reading"]["sentences"][0]["text"] == "Still broken."

    clock.advance(minutes=5)
    assert _patch(desk, task, status="in_progress").status_code == 200
    clock.advance(minutes=5)
    contact = {"channel": "phone", "outcome": "reached", "note": "Router replaced today."}
    assert desk.post(f"/api/v1/tasks/{task['id']}/contacts", json=contact).status_code == 201
    note = desk.post(f"/api/v1/tasks/{task['id']}/notes", json={"text": "Courier booked."})
    assert note.status_code == 201 and note.json()[-1]["data"] == {"text": "Courier booked."}
    assert _patch(desk, task, status="waiting_on_customer").status_code == 200
    assert _patch(desk, task, status="in_progress").status_code == 200
    clock.advance(hours=1)
    resolved = _patch(
        desk,
        task,
        status="resolved",
        root_cause="product_defect",
        resolution_note="Replaced the faulty router; the customer confirmed it works.",
    )

    assert resolved.status_code == 200, resolved.text
    body = resolved.json()
    assert body["status"] == "resolved" and body["root_cause"] == "product_defect"
    assert body["resolved_at"] == "2026-12-01T10:10:00Z"
    assert body["first_contacted_at"] == "2026-12-01T09:10:00Z"
    story = [(event["kind"], event["data"].get("after")) for event in _events(desk, task)]
    assert story == [
        ("created", None),
        ("status_changed", "in_progress"),
        ("contact", None),
        ("note", None),
        ("status_changed", "waiting_on_customer"),
        ("status_changed", "in_progress"),
        ("status_changed", "resolved"),
        ("root_cause_changed", "product_defect"),
        ("resolution_note_changed", body["resolution_note"]),
    ]
    events = _events(desk, task)
    assert events[2]["data"] == {**contact} and events[2]["actor"] == "admin token"
    assert events[6]["data"] == {"before": "in_progress", "after": "resolved"}


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ([], "resolved"),
        ([], "waiting_on_customer"),
        ([], "not_resolvable"),
        (["in_progress", "waiting_on_customer"], "open"),
    ],
)
def test_a_move_the_lifecycle_forbids_answers_409_and_changes_nothing(
    desk: ApiClient, path: list[str], target: str
) -> None:
    task = _detractor_task(desk, "LIFE-2")
    for status in path:
        assert _patch(desk, task, status=status).status_code == 200
    before = (run(FollowUpTask.select().where(FollowUpTask.id == task["id"])), _events(desk, task))

    refused = _patch(desk, task, status=target, root_cause="other", resolution_note="Done.")

    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    after = (run(FollowUpTask.select().where(FollowUpTask.id == task["id"])), _events(desk, task))
    assert after == before


def test_a_final_task_cannot_change_any_more(desk: ApiClient) -> None:
    task = _detractor_task(desk, "LIFE-3")
    _patch(desk, task, status="in_progress")
    done = _patch(desk, task, status="not_resolvable", resolution_note="Refund policy explained.")
    assert done.status_code == 200, done.text
    events = len(_events(desk, task))
    for change in ({"status": "in_progress"}, {"priority": "P1"}, {"root_cause": "policy"}):
        assert _patch(desk, task, **change).status_code == 409
    assert len(_events(desk, task)) == events


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"status": "resolved", "resolution_note": "Fixed."}, "root_cause"),
        ({"status": "resolved", "root_cause": "rain", "resolution_note": "Fixed."}, "root_cause"),
        ({"status": "resolved", "root_cause": "billing"}, "resolution_note"),
        ({"status": "resolved", "root_cause": "other", "resolution_note": " "}, "resolution_note"),
        ({"status": "not_resolvable"}, "resolution_note"),
        ({"root_cause": "weather"}, "root_cause"),
    ],
)
def test_a_resolution_without_what_it_needs_answers_422_and_changes_nothing(
    desk: ApiClient, changes: dict[str, str], field: str
) -> None:
    task = _detractor_task(desk, "LIFE-4")
    _patch(desk, task, status="in_progress")
    events = _events(desk, task)

    refused = _patch(desk, task, **changes)

    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == field
    assert desk.get(f"/api/v1/tasks/{task['id']}").json()["status"] == "in_progress"
    assert _events(desk, task) == events


def test_a_task_moves_only_to_an_active_owner_of_its_team(desk: ApiClient) -> None:
    task = _detractor_task(desk, "LIFE-5")
    owners = {owner["email"]: owner for owner in desk.get("/api/v1/owners").json()}
    first, colleague = task["owner"]["id"], owners["oscar@example.org"]["id"]
    if first == colleague:
        colleague = owners["olivia@example.org"]["id"]

    other_team = _patch(desk, task, owner_id=owners["bill@example.org"]["id"])
    assert other_team.status_code == 422 and other_team.json()["errors"][0]["field"] == "owner_id"
    desk.patch(f"/api/v1/owners/{colleague}", json={"active": False})
    assert _patch(desk, task, owner_id=colleague).status_code == 422
    desk.patch(f"/api/v1/owners/{colleague}", json={"active": True})

    moved = _patch(desk, task, owner_id=colleague, priority="P1")

    assert moved.status_code == 200, moved.text
    assert moved.json()["owner"]["id"] == colleague and moved.json()["priority"] == "P1"
    kinds = {event["kind"]: event["data"] for event in _events(desk, task)}
    assert kinds["owner_id_changed"] == {"before": first, "after": colleague}
    assert kinds["priority_changed"] == {"before": "P2", "after": "P1"}


def test_a_change_to_what_the_task_already_is_writes_no_event(desk: ApiClient) -> None:
    task = _detractor_task(desk, "LIFE-6")
    events = _events(desk, task)
    assert _patch(desk, task, status="open", priority="P2").status_code == 200
    assert _events(desk, task) == events
    assert run(TaskEvent.count()) == len(events)


def test_the_task_list_pages_and_filters_strictly(desk: ApiClient, clock: FixedClock) -> None:
    first = _detractor_task(desk, "LIST-1")
    clock.advance(hours=30)  # the first is overdue now (24 h to contact a detractor)
    second = _detractor_task(desk, "LIST-2")
    billing = _detractor_task(desk, "LIST-3", team="billing")
    _patch(desk, second, status="in_progress")
    _patch(desk, billing, priority="P1")

    def ids(**params: Any) -> list[int]:
        return [task["id"] for task in desk.tasks(**params)]

    assert ids() == [first["id"], second["id"], billing["id"]]
    assert ids(sort="-created") == [billing["id"], second["id"], first["id"]]
    assert ids(team="billing") == [billing["id"]]
    assert ids(status=["in_progress", "open"], team="support") == [first["id"], second["id"]]
    assert ids(status="in_progress") == [second["id"]]
    assert ids(overdue="true") == [first["id"]]
    assert ids(overdue="false") == [second["id"], billing["id"]]
    assert ids(priority="P1") == [billing["id"]]
    assert ids(since=(CLOSED + dt.timedelta(hours=1)).isoformat()) == [second["id"], billing["id"]]
    assert ids(owner=billing["owner"]["email"]) == [billing["id"]]
    page = desk.get("/api/v1/tasks", params={"limit": 1, "offset": 1}).json()
    assert [task["id"] for task in page["items"]] == [second["id"]]
    assert (page["total"], page["limit"], page["offset"]) == (3, 1, 1)
    assert desk.tasks(overdue="true")[0]["overdue"] is True


@pytest.mark.parametrize("query", ["tema=support", "state=open", "owner_email=x@example.org"])
def test_an_unknown_filter_answers_400_instead_of_listing_everything(
    api: ApiClient, query: str
) -> None:
    response = api.get(f"/api/v1/tasks?{query}")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == query.split("=")[0]


def test_root_causes_are_seeded_and_leads_can_add_their_own(api: ApiClient) -> None:
    seeded = api.get("/api/v1/root-causes").json()
    assert [(cause["key"], cause["name"]) for cause in seeded] == list(DEFAULT_ROOT_CAUSES)
    added = api.post("/api/v1/root-causes", json={"key": "carrier", "name": "Carrier delay"})
    assert added.status_code == 201
    again = api.post("/api/v1/root-causes", json={"key": "carrier", "name": "Twice"})
    assert again.status_code == 409
    assert api.get("/api/v1/root-causes").json()[-1]["key"] == "carrier"


def test_the_topic_filter_lists_the_tasks_whose_answer_mentions_the_topic(
    desk: ApiClient,
) -> None:
    comments = {
        "TOPIC-1": "I was charged twice and the invoice is still wrong.",
        "TOPIC-2": "The parcel arrived two weeks late and the box was crushed.",
        "TOPIC-3": "Nobody answered my emails for a week.",
    }
    tasks = []
    for case, comment in comments.items():
        invitation = desk.close_case(case, team="support")
        desk.answer_survey_form(invitation["survey_url"], nps=1, csat=1, comment=comment)
        analysed = desk.wait_until_analysed(desk.response_id_of_case(invitation["case_id"]))
        tasks.append(desk.get(f"/api/v1/tasks/{analysed['follow_up_task_id']}").json())

    def mentioned(task: dict[str, Any]) -> set[str]:
        sentences = task["analysis"]["reading"]["sentences"]
        return {topic for sentence in sentences for topic in sentence["topics"]}

    topics = set().union(*(mentioned(task) for task in tasks))
    # The model finds topics in these complaints, and not all the same ones.
    assert topics and any(not topics <= mentioned(task) for task in tasks)
    for topic in topics:
        expected = [task["id"] for task in tasks if topic in mentioned(task)]
        assert [task["id"] for task in desk.tasks(topic=topic)] == expected, topic
    unknown = desk.get("/api/v1/tasks", params={"topic": "no-such-topic"})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "topic"
