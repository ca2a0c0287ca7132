"""The inbox and the task page over HTTP: what an owner sees, every form's change and its
refusals (409, 422, 404, 403), with real rows. One app and one set of tasks for the module."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest

from aftercare.clock import FixedClock
from aftercare.root_causes import DEFAULT_ROOT_CAUSES
from nlp.topics import DEFAULT_TOPICS
from tests.conftest import PINNED_NOW, TEST_SETTINGS, api_client
from tests.helpers import ApiClient
from tests.web.conftest import csrf_token, give_everyone_the_password, signed_in

CLOCK = FixedClock(PINNED_NOW)
SCRIPT_COMMENT = 'The router died again. <script>alert("owned")</script>'


class Desk:
    """The app, and the tasks made for this module by name."""

    def __init__(self, api: ApiClient, tasks: dict[str, int]) -> None:
        self.api = api
        self.http = api.http
        self.tasks = tasks

    def task(self, task_id: int) -> dict[str, Any]:
        response = self.api.get(f"/api/v1/tasks/{task_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def events(self, task_id: int) -> list[dict[str, Any]]:
        response = self.api.get(f"/api/v1/tasks/{task_id}/events")
        assert response.status_code == 200, response.text
        return list(response.json())

    def as_user(self, email: str) -> None:
        self.http.cookies.clear()
        signed_in(self.http, email)

    def post_form(self, path: str, **fields: str) -> Any:
        token = csrf_token(self.http, path.rsplit("/", 1)[0])
        return self.http.post(path, data={"_csrf_token": token, **fields}, follow_redirects=False)


def _detractor_task(api: ApiClient, case: str, team: str, comment: str) -> int:
    invitation = api.close_case(case, team=team, subject=f"Case {case}")
    api.answer_survey_form(invitation["survey_url"], nps=1, csat=1, comment=comment)
    analysed = api.wait_until_analysed(api.response_id_of_case(invitation["case_id"]))
    return int(analysed["follow_up_task_id"])


@pytest.fixture(scope="module")
def desk(module_db: None) -> Iterator[Desk]:
    """Support (Olivia, later Oscar, and Lena the lead) and billing (Bill); tasks an hour apart,
    each due 24 hours after it opened."""
    with api_client(TEST_SETTINGS, CLOCK) as api:
        api.create_team("support")
        api.create_team("billing")
        api.create_owner("olivia@example.org", team="support", name="Olivia Owner")
        api.create_owner("bill@example.org", team="billing", name="Bill Billing")
        tasks: dict[str, int] = {}
        for name, team, comment in [
            ("early", "support", "Nobody called me back. Still broken."),
            ("late", "support", SCRIPT_COMMENT),
            ("worked", "support", "Still broken."),
            ("refused", "support", "Still broken."),
            ("billing", "billing", "Charged twice."),
        ]:
            tasks[name] = _detractor_task(api, name.upper(), team, comment)
            CLOCK.advance(hours=1)
        api.create_owner("oscar@example.org", team="support", name="Oscar Other")
        lead = {"email": "lena@example.org", "name": "Lena", "role": "lead", "teams": ["support"]}
        assert api.post("/api/v1/users", json=lead).status_code == 201
        give_everyone_the_password()
        yield Desk(api, tasks)


@pytest.fixture
def clock() -> FixedClock:
    CLOCK.now = PINNED_NOW + dt.timedelta(hours=6)
    return CLOCK


def card_order(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<a href="/tasks/(\d+)">', html)]


def test_the_inbox_lists_my_open_tasks_soonest_due_first_and_says_which_are_overdue(
    desk: Desk, clock: FixedClock
) -> None:
    clock.now = PINNED_NOW + dt.timedelta(hours=24, minutes=30)  # only the first is late
    desk.as_user("olivia@example.org")

    inbox = desk.http.get("/inbox")

    assert inbox.status_code == 200 and "<h1>My tasks</h1>" in inbox.text
    order = card_order(inbox.text)
    assert order[:2] == [desk.tasks["early"], desk.tasks["late"]]
    assert desk.tasks["billing"] not in order
    cards = inbox.text.split('<li class="task-card')[1:]
    assert "Overdue" in cards[0] and "Overdue" not in cards[1]
    assert cards[0].startswith(" is-overdue")
    assert f"Open <strong>{len(order)}</strong>" in inbox.text, "every task listed is open"


def test_the_inbox_filters_are_kept_in_the_url_and_in_the_form(
    desk: Desk, clock: FixedClock
) -> None:
    desk.as_user("olivia@example.org")

    p1 = desk.http.get("/inbox?status=any&priority=P1&team=support")

    assert p1.status_code == 200 and card_order(p1.text) == []
    assert '<option value="P1" selected>P1</option>' in p1.text
    assert '<option value="any" selected>Any status</option>' in p1.text
    assert '<option value="support" selected>Support</option>' in p1.text
    assert desk.http.get("/inbox?status=done").status_code == 400
    every = desk.http.get("/inbox?view=mine&status=any&team=&priority=")
    assert every.status_code == 200 and desk.tasks["early"] in card_order(every.text)


def test_the_inbox_topic_filter_shows_the_tasks_whose_answer_mentions_it(
    desk: Desk, clock: FixedClock
) -> None:
    desk.as_user("olivia@example.org")
    every = card_order(desk.http.get("/inbox?status=any").text)
    found = {
        topic: [task for task in desk.api.tasks(topic=topic) if task["id"] in every]
        for topic in (each.key for each in DEFAULT_TOPICS)
    }
    topic, expected = max(found.items(), key=lambda item: len(item[1]))
    assert expected, "the model found none of these topics in the comments"

    page = desk.http.get(f"/inbox?status=any&topic={topic}")

    assert page.status_code == 200
    assert card_order(page.text) == [task["id"] for task in expected]
    assert f'<option value="{topic}" selected>' in page.text
    assert desk.http.get("/inbox?topic=no-such-topic").status_code in (400, 422)


def test_a_lead_sees_the_teams_tasks_and_an_owner_of_another_team_does_not(
    desk: Desk, clock: FixedClock
) -> None:
    desk.as_user("lena@example.org")
    team_view = desk.http.get("/inbox")
    assert "<h1>Team tasks</h1>" in team_view.text
    assert desk.tasks["early"] in card_order(team_view.text)
    assert desk.tasks["billing"] not in card_order(team_view.text)

    desk.as_user("bill@example.org")
    assert card_order(desk.http.get("/inbox?view=team").text) == [desk.tasks["billing"]]
    hidden = desk.http.get(f"/tasks/{desk.tasks['early']}")
    assert hidden.status_code == 404 and hidden.headers["content-type"].startswith("text/html")
    before = len(desk.events(desk.tasks["early"]))
    token = csrf_token(desk.http, "/inbox")
    note = {"_csrf_token": token, "text": "Not mine to write"}
    assert desk.http.post(f"/tasks/{desk.tasks['early']}/notes", data=note).status_code == 404
    assert len(desk.events(desk.tasks["early"])) == before


def test_the_task_page_shows_the_comment_escaped_with_each_sentences_reading(
    desk: Desk, clock: FixedClock
) -> None:
    desk.as_user("olivia@example.org")

    page = desk.http.get(f"/tasks/{desk.tasks['late']}")

    assert page.status_code == 200
    assert "<script>" not in page.text and "&lt;script&gt;" in page.text
    assert page.text.count('<li class="sentence sentiment-') >= 1
    assert "Case LATE" in page.text and "robin" in page.text.lower()
    assert "Make me the owner" not in page.text, "Olivia owns it already"


def test_an_owner_works_a_task_to_resolved_with_the_forms(desk: Desk, clock: FixedClock) -> None:
    task_id = desk.tasks["worked"]
    desk.as_user("olivia@example.org")

    noted = desk.post_form(f"/tasks/{task_id}/notes", text="Called <b>twice</b>.")
    assert noted.status_code == 303 and noted.headers["location"] == f"/tasks/{task_id}?done=note"
    page = desk.http.get(noted.headers["location"]).text
    assert "Note added." in page and "Called &lt;b&gt;twice&lt;/b&gt;." in page
    contact = {"channel": "phone", "outcome": "reached", "note": "Router swapped."}
    assert desk.post_form(f"/tasks/{task_id}/contacts", **contact).status_code == 303
    assert desk.post_form(f"/tasks/{task_id}/status", status="in_progress").status_code == 303
    assert desk.post_form(f"/tasks/{task_id}/priority", priority="P1").status_code == 303

    note = "Replaced the router; the customer confirmed."
    missing = desk.post_form(f"/tasks/{task_id}/status", status="resolved", resolution_note=note)
    assert missing.status_code == 422
    assert "Root cause: must be one of" in missing.text
    assert note in missing.text, "what was typed is kept"
    assert desk.task(task_id)["status"] == "in_progress"

    cause = DEFAULT_ROOT_CAUSES[0][0]
    resolved = desk.post_form(
        f"/tasks/{task_id}/status", status="resolved", root_cause=cause, resolution_note=note
    )
    assert resolved.status_code == 303
    task = desk.task(task_id)
    assert (task["status"], task["root_cause"], task["priority"]) == ("resolved", cause, "P1")
    assert task["first_contacted_at"] is not None
    kinds = [event["kind"] for event in desk.events(task_id)]
    assert kinds[1:] == [
        "note",
        "contact",
        "status_changed",
        "priority_changed",
        "status_changed",
        "root_cause_changed",
        "resolution_note_changed",
    ]
    assert all(e["actor"] == "olivia@example.org" for e in desk.events(task_id)[1:])


def test_a_move_the_lifecycle_forbids_shows_the_page_again_with_409(
    desk: Desk, clock: FixedClock
) -> None:
    task_id = desk.tasks["refused"]
    desk.as_user("olivia@example.org")

    refused = desk.post_form(f"/tasks/{task_id}/status", status="waiting_on_customer")

    assert refused.status_code == 409
    assert "can move to in_progress" in refused.text
    assert desk.task(task_id)["status"] == "open"
    empty_note = desk.post_form(f"/tasks/{task_id}/notes", text="")
    assert empty_note.status_code == 422 and "Note: Write the note" in empty_note.text


def test_a_task_is_reassigned_within_its_team_and_claimed_back(
    desk: Desk, clock: FixedClock
) -> None:
    task_id = desk.tasks["refused"]
    users = {u["email"]: u["id"] for u in desk.api.get("/api/v1/users").json()}
    desk.as_user("olivia@example.org")

    page = desk.http.get(f"/tasks/{task_id}").text
    assert "Oscar Other (oscar@example.org)" in page and "bill@example.org" not in page
    outsider = desk.post_form(f"/tasks/{task_id}/owner", owner_id=str(users["bill@example.org"]))
    assert outsider.status_code == 422 and "must be a member of the task" in outsider.text
    moved = desk.post_form(f"/tasks/{task_id}/owner", owner_id=str(users["oscar@example.org"]))
    assert moved.status_code == 303
    assert desk.task(task_id)["owner"]["email"] == "oscar@example.org"
    history = desk.http.get(moved.headers["location"]).text.split('id="history-title"')[1]
    assert "Owner changed" in history and "Olivia Owner → Oscar Other" in history

    claimed = desk.post_form(f"/tasks/{task_id}/claim")
    assert claimed.status_code == 303 and claimed.headers["location"].endswith("?done=claim")
    assert desk.task(task_id)["owner"]["email"] == "olivia@example.org"


def test_a_note_posted_without_the_csrf_token_is_refused_and_adds_nothing(
    desk: Desk, clock: FixedClock
) -> None:
    task_id = desk.tasks["early"]
    desk.as_user("olivia@example.org")
    before = desk.events(task_id)

    refused = desk.http.post(f"/tasks/{task_id}/notes", data={"text": "Forged"})

    assert refused.status_code == 403 and "This form has expired" in refused.text
    assert desk.events(task_id) == before
