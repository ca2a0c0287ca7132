"""The whole loop over HTTP: case closed -> survey -> answer -> analysis -> routed task.

Runs on SQLite + stub broker, and on PostgreSQL + RabbitMQ in the second pass of the suite,
each time with a real dramatiq.Worker and the real sentiment model.
"""

from __future__ import annotations

import datetime as dt

from tests.helpers import ApiClient


def test_a_negative_answer_becomes_a_task_for_the_least_busy_team_owner(api: ApiClient) -> None:
    api.create_team("billing")
    api.create_owner("ann@example.com", team="billing")
    api.create_owner("bo@example.com", team="billing")
    busy = api.close_case("CASE-BUSY", team="billing")
    first = api.answer_survey_form(busy["survey_url"], nps=1, csat=1, comment="")
    assert first.status_code == 200
    api.wait_until_analysed(api.response_id_of_case(busy["case_id"]))
    # ann (the older owner) got the first task, so the next one goes to bo.

    case = api.close_case(
        "CASE-1",
        team="billing",
        subject="Charged twice",
        customer={"email": "Cat@Example.org", "name": "Cat", "locale": "en-GB"},
    )
    answered = api.answer_survey_form(
        case["survey_url"],
        nps=2,
        csat=1,
        comment="I was charged twice and after three calls nobody has refunded me. Awful.",
    )
    assert answered.status_code == 200
    assert "Thank you" in answered.text

    response = api.wait_until_analysed(api.response_id_of_case(case["case_id"]))
    assert response["status"] == "analysed"
    assert response["sentiment_label"] == "negative"
    assert 0.5 < response["sentiment_score"] <= 1.0
    assert response["model_version"]
    assert response["negative"] is True
    assert response["follow_up_task_id"] is not None

    tasks = api.tasks(owner="bo@example.com", status="open")
    assert [task["id"] for task in tasks] == [response["follow_up_task_id"]]
    task = tasks[0]
    assert task["owner"]["email"] == "bo@example.com"
    assert task["team"]["slug"] == "billing"
    assert task["customer"] == {"email": "cat@example.org", "name": "Cat", "locale": "en-GB"}
    assert task["case"]["external_id"] == "CASE-1"
    assert task["case"]["subject"] == "Charged twice"
    assert task["answers"]["nps"] == 2 and task["answers"]["csat"] == 1
    assert "charged twice" in task["answers"]["comment"]
    assert task["analysis"]["sentiment_label"] == "negative"
    assert any(reason.startswith("nps 2") for reason in task["reasons"])
    due = dt.datetime.fromisoformat(task["due_at"])
    created = dt.datetime.fromisoformat(task["created_at"])
    assert due - created == dt.timedelta(hours=24)


def test_a_positive_answer_creates_no_task(api: ApiClient) -> None:
    api.create_team("support")
    api.create_owner("sam@example.com", team="support")
    case = api.close_case("CASE-2", team="support")
    api.answer_survey_form(
        case["survey_url"], nps=10, csat=5, comment="Sam fixed it in one call, brilliant service!"
    )

    response = api.wait_until_analysed(api.response_id_of_case(case["case_id"]))
    assert response["sentiment_label"] == "positive"
    assert response["negative"] is False
    assert response["negative_reasons"] == []
    assert response["follow_up_task_id"] is None
    assert api.tasks() == []


def test_a_glowing_score_with_a_furious_comment_still_gets_a_task(api: ApiClient) -> None:
    case = api.close_case("CASE-3")
    response = api.submit_json(
        case["survey_url"],
        nps=9,
        csat=4,
        comment="Honestly the worst support I have ever had. Rude, slow, and still broken.",
    )
    assert response.status_code == 201, response.text
    analysed = api.wait_until_analysed(response.json()["id"])
    assert analysed["sentiment_label"] == "negative"
    assert analysed["negative_reasons"] and "negative comment" in analysed["negative_reasons"][0]
    [task] = api.tasks(status="open")
    # No team and no fallback owner: the task exists, unassigned, rather than being lost.
    assert task["owner"] is None and task["team"] is None


def test_a_case_without_a_team_owner_goes_to_the_fallback_owner(db: None) -> None:
    from api.app import create_app
    from tests.conftest import API_TOKEN, settings_with

    api_settings = settings_with(fallback_owner_email="lead@example.com")
    with ApiClient.for_app(create_app(api_settings), token=API_TOKEN) as api:
        api.create_team("delivery")  # a team without owners
        api.create_owner("lead@example.com")
        case = api.close_case("CASE-4", team="delivery")
        api.answer_survey_form(case["survey_url"], nps=0, csat=1, comment="")
        api.wait_until_analysed(api.response_id_of_case(case["case_id"]))
        [task] = api.tasks(owner="lead@example.com")
    assert task["team"]["slug"] == "delivery"
    assert task["analysis"]["sentiment_label"] is None  # nothing to analyse, the scores decided


def test_posting_the_same_case_twice_returns_the_first_invitation(api: ApiClient) -> None:
    body = {"external_id": "ZD-77", "customer": {"email": "kim@example.org"}}
    first = api.post("/api/v1/cases/closed", json=body)
    second = api.post("/api/v1/cases/closed", json={**body, "subject": "retried webhook"})
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json() == second.json()
    case = api.get(f"/api/v1/cases/{first.json()['case_id']}").json()
    assert case["subject"] == ""  # the retry changed nothing
    assert case["survey_url"] == first.json()["survey_url"]


def test_a_used_link_shows_already_answered_and_keeps_the_first_answer(api: ApiClient) -> None:
    case = api.close_case("CASE-5")
    api.answer_survey_form(case["survey_url"], nps=8, csat=4, comment="first answer")
    again = api.http.post(
        "/s/" + case["survey_url"].rsplit("/s/", 1)[1],
        data={"nps": "0", "csat": "1", "comment": "second answer"},
    )
    assert again.status_code == 409
    assert "already" in again.text.lower()
    json_again = api.submit_json(case["survey_url"], nps=0, csat=1, comment="third answer")
    assert json_again.status_code == 409
    assert json_again.headers["content-type"].startswith("application/problem+json")

    stored = api.get(f"/api/v1/responses/{api.response_id_of_case(case['case_id'])}").json()
    assert (stored["nps"], stored["csat"], stored["comment"]) == (8, 4, "first answer")
