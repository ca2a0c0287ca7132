"""A customer who complains again while their task is open: the new answer joins that task (an
event and a link to the answer), so the owner sees every negative answer in one place; once the
task is final, a new complaint opens a new task."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from aftercare.analysis import analyse_responses
from aftercare.cases import ClosedCase, CustomerDetails, record_closed_case
from aftercare.clock import FixedClock
from aftercare.responses import SurveyAnswers, submit_response
from aftercare.tables import FollowUpTask, TaskEvent
from aftercare.tasks import FollowUpPolicy
from tests.conftest import PINNED_NOW, TEST_SETTINGS, api_client, run
from tests.helpers import ApiClient, survey_token
from worker.models import packaged_analyser

CLOSED = PINNED_NOW
ROBIN = {"email": "robin@example.org", "name": "Robin"}
KIM = {"email": "kim@example.org", "name": "Kim"}
RESOLVE = [
    {"status": "in_progress"},
    {"status": "resolved", "root_cause": "other", "resolution_note": "Replaced the router."},
]



@pytest.fixture
def desk(db: None, clock: FixedClock) -> Iterator[ApiClient]:
    """The app on a pinned clock, with a support team and its owner."""
    with api_client(TEST_SETTINGS, clock) as api:
        api.create_team("support")
        api.create_owner("olivia@example.org", team="support")
        yield api


def _answer(
    api: ApiClient,
    case: str,
    customer: dict[str, str],
    nps: int = 2,
    csat: int = 1,
    comment: str = "Still broken.",
) -> dict[str, Any]:
    """A closed case of `customer`, answered on the survey page; the response once analysed."""
    invitation = api.close_case(case, team="support", customer=customer)
    api.answer_survey_form(invitation["survey_url"], nps=nps, csat=csat, comment=comment)
    return dict(api.wait_until_analysed(api.response_id_of_case(invitation["case_id"])))


def _task(api: ApiClient, task_id: int) -> dict[str, Any]:
    response = api.get(f"/api/v1/tasks/{task_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def _events(api: ApiClient, task_id: int) -> list[dict[str, Any]]:
    response = api.get(f"/api/v1/tasks/{task_id}/events")
    assert response.status_code == 200, response.text
    return list(response.json())


def _change(api: ApiClient, task_id: int, changes: list[dict[str, str]]) -> None:
    for change in changes:
        response = api.patch(f"/api/v1/tasks/{task_id}", json=change)
        assert response.status_code == 200, response.text


def _kinds(api: ApiClient, task_id: int) -> list[str]:
    return [event["kind"] for event in _events(api, task_id)]


def test_a_second_negative_answer_from_the_same_customer_joins_their_open_task(
    desk: ApiClient, clock: FixedClock
) -> None:
    first = _answer(desk, "REP-1", ROBIN)
    clock.advance(hours=2)
    second = _answer(desk, "REP-2", ROBIN, nps=4, csat=2, comment="Broken again, a week on.")

    task_id = first["follow_up_task_id"]
    assert task_id is not None and second["follow_up_task_id"] == task_id
    assert [task["id"] for task in desk.tasks()] == [task_id]
    assert run(FollowUpTask.count()) == 1
    events = _events(desk, task_id)
    assert [(event["kind"], event["actor"]) for event in events] == [
        ("created", "system"),
        ("response_attached", "system"),
    ]
    assert events[1]["data"] == {
        "response_id": second["id"],
        "case_id": second["case_id"],
        "reasons": second["negative_reasons"],
    }
    task = _task(desk, task_id)
    assert task["answers"]["response_id"] == first["id"]
    assert task["attached_responses"] == [
        {
            "response_id": second["id"],
            "nps": 4,
            "csat": 2,
            "comment": "Broken again, a week on.",
            "submitted_at": "2026-12-01T11:00:00Z",
        }
    ]
    assert task["updated_at"] == "2026-12-01T11:00:00Z"
    assert desk.tasks()[0]["attached_responses"] == task["attached_responses"]


@pytest.mark.parametrize("path", [["in_progress"], ["in_progress", "waiting_on_customer"]])
def test_a_task_being_worked_on_still_takes_the_customers_new_answers(
    desk: ApiClient, path: list[str]
) -> None:
    first = _answer(desk, "REP-1", ROBIN)
    task_id = first["follow_up_task_id"]
    _change(desk, task_id, [{"status": status} for status in path])

    second = _answer(desk, "REP-2", ROBIN)

    assert second["follow_up_task_id"] == task_id
    assert _kinds(desk, task_id)[-1] == "response_attached"
    assert _task(desk, task_id)["status"] == path[-1]


@pytest.mark.parametrize(
    "closing",
    [
        RESOLVE,
        [
            {"status": "in_progress"},
            {"status": "not_resolvable", "resolution_note": "Out of warranty; told them why."},
        ],
    ],
    ids=["resolved", "not_resolvable"],
)
def test_a_negative_answer_after_the_task_is_final_opens_a_new_task(
    desk: ApiClient, closing: list[dict[str, str]]
) -> None:
    first = _answer(desk, "REP-1", ROBIN)
    second = _answer(desk, "REP-2", ROBIN)
    task_id = first["follow_up_task_id"]
    _change(desk, task_id, closing)
    final_events = _events(desk, task_id)

    third = _answer(desk, "REP-3", ROBIN, comment="Broken for the third time.")

    new_task_id = third["follow_up_task_id"]
    assert new_task_id not in (None, task_id)
    new_task = _task(desk, new_task_id)
    assert new_task["status"] == "open" and new_task["answers"]["response_id"] == third["id"]
    assert new_task["attached_responses"] == []
    assert _kinds(desk, new_task_id) == ["created"]
    assert _events(desk, task_id) == final_events
    assert [a["response_id"] for a in _task(desk, task_id)["attached_responses"]] == [second["id"]]
    assert sorted(task["id"] for task in desk.tasks()) == [task_id, new_task_id]


def test_another_customer_gets_a_task_of_their_own(desk: ApiClient) -> None:
    robin = _answer(desk, "REP-1", ROBIN)
    kim = _answer(desk, "REP-2", KIM)

    assert kim["follow_up_task_id"] not in (None, robin["follow_up_task_id"])
    tasks = desk.tasks()
    assert {task["customer"]["email"] for task in tasks} == {ROBIN["email"], KIM["email"]}
    assert [task["attached_responses"] for task in tasks] == [[], []]


def test_a_positive_answer_from_the_customer_adds_nothing_to_their_task(desk: ApiClient) -> None:
    first = _answer(desk, "REP-1", ROBIN)

    happy = _answer(desk, "REP-2", ROBIN, nps=10, csat=5, comment="Fixed now, thank you!")

    assert happy["negative"] is False and happy["follow_up_task_id"] is None
    task_id = first["follow_up_task_id"]
    assert _task(desk, task_id)["attached_responses"] == []
    assert _kinds(desk, task_id) == ["created"]


def test_an_added_answer_delivered_or_analysed_again_is_added_once(
    desk: ApiClient, clock: FixedClock
) -> None:
    first = _answer(desk, "REP-1", ROBIN)
    second = _answer(desk, "REP-2", ROBIN)
    task_id = first["follow_up_task_id"]
    both = [first["id"], second["id"]]

    actors = desk.http.app.state.actors
    for _ in range(2):
        actors.analyse_responses.send(response_ids=both)
    actors.broker.join(actors.analyse_responses.queue_name, timeout=30_000)
    reanalyse = analyse_responses(
        both, packaged_analyser(TEST_SETTINGS), policy=FollowUpPolicy(), clock=clock, replace=True
    )
    assert run(reanalyse) == 2
    assert _kinds(desk, task_id) == ["created", "response_attached"]

    # Re-analysed after the task is resolved, the answers still belong to it: no new task.
    _change(desk, task_id, RESOLVE)
    reanalyse = analyse_responses(
        both, packaged_analyser(TEST_SETTINGS), policy=FollowUpPolicy(), clock=clock, replace=True
    )
    assert run(reanalyse) == 2
    assert run(FollowUpTask.count()) == 1
    assert _kinds(desk, task_id).count("response_attached") == 1
    assert desk.get(f"/api/v1/responses/{second['id']}").json()["follow_up_task_id"] == task_id


async def _negative_answer(external_id: str, clock: FixedClock) -> int:
    case = ClosedCase(external_id=external_id, customer=CustomerDetails(**ROBIN))
    invitation, _ = await record_closed_case(case, public_url="http://x", clock=clock)
    return await submit_response(
        survey_token(invitation.survey_url),
        SurveyAnswers(nps=1, csat=1, comment="Nobody called me back."),
        comment_max_chars=5000,
        clock=clock,
    )


def test_two_negative_answers_of_one_customer_analysed_at_once_open_one_task(db: None) -> None:
    clock = FixedClock(CLOSED)
    analyser = packaged_analyser(TEST_SETTINGS)

    async def scenario() -> list[int]:
        ids = [await _negative_answer(f"RACE-{n}", clock) for n in range(2)]
        # Two workers each took one of the customer's answers and run side by side.
        await asyncio.gather(
            *(
                analyse_responses([i], analyser, policy=FollowUpPolicy(), clock=clock)
                for i in ids
            )
        )
        return ids

    run(scenario())

    assert run(FollowUpTask.count()) == 1
    kinds = run(TaskEvent.select(TaskEvent.kind).order_by(TaskEvent.id).output(as_list=True))
    assert kinds == ["created", "response_attached"]
