"""Late work: a task past its deadline is marked overdue once (an event, a notice to its team's
lead), each owner gets one morning digest of their overdue tasks, and the periodic job that does
both is claimed by one process per run; time moves on a pinned clock."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from aftercare.clock import FixedClock
from aftercare.overdue import (
    MARK_OVERDUE_TASKS,
    OVERDUE_JOB,
    OverdueRound,
    check_overdue_tasks,
    send_overdue_digests,
)
from aftercare.schedule import claim_run
from aftercare.tables import Notification, ScheduledJob, TaskEvent
from tests.conftest import PINNED_NOW, api_client, run, settings_with
from tests.helpers import ApiClient
from tests.mail_server import wait_until
from worker.housekeeping import start_overdue_check

SETTINGS = settings_with(overdue_check_interval_seconds=3600, digest_hour=8)
HOUR = dt.timedelta(hours=1)


@pytest.fixture
def office(db: None, clock: FixedClock) -> Iterator[ApiClient]:
    """The app on a pinned clock (09:00), with a support team of two owners."""
    with api_client(SETTINGS, clock) as api:
        api.create_team("support")
        api.create_owner("olivia@example.org", team="support")
        api.create_owner("oscar@example.org", team="support")
        yield api


def _detractor_task(api: ApiClient, case: str) -> dict[str, Any]:
    invitation = api.close_case(case, team="support")
    api.answer_survey_form(invitation["survey_url"], nps=3, csat=2, comment="Still waiting.")
    analysed = api.wait_until_analysed(api.response_id_of_case(invitation["case_id"]))
    return dict(api.get(f"/api/v1/tasks/{analysed['follow_up_task_id']}").json())


def _overdue_events(task_id: int | None = None) -> list[dict[str, Any]]:
    query = TaskEvent.select().where(TaskEvent.kind == "overdue")
    if task_id is not None:
        query = query.where(TaskEvent.task == task_id)
    return list(run(query.order_by(TaskEvent.id)))


def _kept(kind: str) -> list[dict[str, Any]]:
    return list(
        run(
            Notification.select()
            .where(Notification.kind == kind, Notification.status == "kept")
            .order_by(Notification.id)
        )
    )


def _resolve(api: ApiClient, task: dict[str, Any]) -> None:
    path = f"/api/v1/tasks/{task['id']}"
    assert api.patch(path, json={"status": "in_progress"}).status_code == 200
    done = {"status": "resolved", "root_cause": "other", "resolution_note": "Called back."}
    assert api.patch(path, json=done).status_code == 200


def test_a_task_past_its_deadline_is_marked_overdue_once_and_its_lead_told_once(
    office: ApiClient, clock: FixedClock
) -> None:
    task = _detractor_task(office, "LATE-1")
    on_time = _detractor_task(office, "LATE-2")
    _resolve(office, on_time)
    lead = {"email": "lee@example.org", "name": "Lee", "role": "lead", "teams": ["support"]}
    assert office.post("/api/v1/users", json=lead).status_code == 201

    clock.advance(hours=25)  # due after 24 hours; the hourly job runs on its own

    [event] = wait_until(lambda: _overdue_events(task["id"]))
    [notice] = wait_until(lambda: _kept("overdue"))
    assert event["actor"] == "system" and event["at"] == clock()
    assert notice["recipient"] == "lee@example.org" and notice["task"] == task["id"]
    assert notice["key"] == f"task:{task['id']}:event:{event['id']}:to:lee@example.org"
    assert notice["subject"] == f"Overdue: follow-up task #{task['id']}, Robin, “Broken router”"
    assert "Its owner is Olivia <olivia@example.org>." in notice["text_body"]
    assert f"http://127.0.0.1:8000/tasks/{task['id']}" in notice["text_body"]
    assert office.get(f"/api/v1/tasks/{task['id']}").json()["overdue"] is True

    # The job again, now and later: nothing more is marked or mailed; the resolved task never.
    assert run(check_overdue_tasks(now=clock(), digest_hour=23)) == OverdueRound(
        marked=0, lead_notices=0, digests=0
    )
    later = clock() + 5 * HOUR
    assert run(check_overdue_tasks(now=later, digest_hour=23)).marked == 0
    assert len(_overdue_events()) == 1
    assert run(Notification.count().where(Notification.kind == "overdue")) == 1


def test_each_owner_gets_one_digest_a_day_of_the_tasks_overdue_at_the_digest_hour(
    office: ApiClient, clock: FixedClock
) -> None:
    first, second, third = (_detractor_task(office, f"DIGEST-{n}") for n in range(3))
    assert [t["owner"]["email"] for t in (first, second, third)] == [
        "olivia@example.org",
        "oscar@example.org",
        "olivia@example.org",
    ]
    _resolve(office, second)  # Oscar called back in time: he has nothing overdue

    clock.now = dt.datetime(2026, 12, 3, 7, 0, tzinfo=dt.UTC)  # overdue, before the digest hour
    wait_until(lambda: len(_overdue_events()) == 2)
    assert run(Notification.count().where(Notification.kind == "digest")) == 0

    clock.now = dt.datetime(2026, 12, 3, 8, 30, tzinfo=dt.UTC)
    [digest] = wait_until(lambda: _kept("digest"))

    assert digest["recipient"] == "olivia@example.org"
    assert digest["key"] == f"digest:2026-12-03:{first['owner']['id']}"
    assert digest["subject"] == "Your overdue follow-up tasks: 2"
    links = [line.strip() for line in digest["text_body"].splitlines() if "/tasks/" in line]
    assert links == [f"http://127.0.0.1:8000/tasks/{task['id']}" for task in (first, third)]
    # A second run that day, here or in another process, sends nothing more.
    assert run(send_overdue_digests(now=clock() + HOUR, digest_hour=8)) == 0

    _resolve(office, third)
    clock.now = dt.datetime(2026, 12, 4, 8, 30, tzinfo=dt.UTC)
    [_, next_day] = wait_until(lambda: _kept("digest")[1:] and _kept("digest"))
    assert next_day["key"] == f"digest:2026-12-04:{first['owner']['id']}"
    assert next_day["subject"] == "Your overdue follow-up tasks: 1"


def test_two_processes_checking_at_once_start_one_run_per_interval(db: None) -> None:
    async def both_at(now: dt.datetime) -> list[bool]:
        return list(
            await asyncio.gather(
                claim_run(OVERDUE_JOB, every=HOUR, now=now, claimed_by="web-1"),
                claim_run(OVERDUE_JOB, every=HOUR, now=now, claimed_by="web-2"),
            )
        )

    assert sorted(run(both_at(PINNED_NOW))) == [False, True]
    assert run(both_at(PINNED_NOW + dt.timedelta(minutes=59))) == [False, False]
    assert sorted(run(both_at(PINNED_NOW + HOUR))) == [False, True]
    [job] = run(ScheduledJob.select().where(ScheduledJob.name == OVERDUE_JOB))
    assert job["next_run_at"] == PINNED_NOW + 2 * HOUR


def test_a_run_the_broker_did_not_take_is_given_back_for_the_next_round(
    db: None, clock: FixedClock
) -> None:
    def broker_down(kind: str, payload: dict[str, Any]) -> None:
        raise ConnectionError("broker down")

    sent: list[str] = []

    def broker_up(kind: str, payload: dict[str, Any]) -> None:
        sent.append(kind)

    with pytest.raises(ConnectionError):
        run(start_overdue_check(SETTINGS, clock, broker_down))
    assert run(start_overdue_check(SETTINGS, clock, broker_up)) is True
    assert run(start_overdue_check(SETTINGS, clock, broker_up)) is False
    assert sent == [MARK_OVERDUE_TASKS]
