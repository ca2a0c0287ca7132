"""Bad input gets a clear 4xx (problem details, or an error page) and writes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from aftercare.tables import Customer, OutboxMessage, SupportCase, SurveyResponse
from tests.conftest import run
from tests.helpers import ApiClient, survey_path, survey_token

GOOD_CASE = {
    "external_id": "BAD-1",
    "customer": {"email": "eve@example.org", "name": "Eve"},
    "team": "support",
    "closed_at": "2026-11-20T09:30:00Z",
}


def _stored_rows() -> tuple[int, int, int, int]:
    return (
        run(Customer.count()),
        run(SupportCase.count()),
        run(SurveyResponse.count()),
        run(OutboxMessage.count()),
    )


def _assert_problem(response: Any, status: int, mentions: str = "") -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert body["title"]
    assert mentions.lower() in (str(body.get("detail", "")) + str(body)).lower()
    return body


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        (b'{"external_id": "BAD-1", "customer": {"email": "eve@example.org"}', "malformed"),
        (b"\xff\xfe\x00not json", "malformed"),
        (b"[" * 10_000 + b"]" * 10_000, ""),
        (b"", "body"),
        (b'"just a string"', "expected `object`"),
    ],
    ids=["truncated", "invalid-utf8", "nested-10000-deep", "empty", "not-an-object"],
)
def test_unreadable_case_bodies_get_400(api: ApiClient, body: bytes, mentions: str) -> None:
    response = api.post(
        "/api/v1/cases/closed",
        content=body,
        headers={**api.auth, "content-type": "application/json"},
    )
    _assert_problem(response, 400, mentions)
    assert _stored_rows() == (0, 0, 0, 0)


@pytest.mark.parametrize(
    ("change", "mentions"),
    [
        ({"priority": "high"}, "unknown field `priority`"),
        ({"external_id": ""}, "external_id"),
        ({"external_id": 42}, "external_id"),
        ({"customer": {"email": "not-an-email"}}, "customer.email"),
        ({"customer": {"email": "eve@example.org", "age": 3}}, "unknown field `age`"),
        ({"closed_at": "2026-11-20T09:30:00"}, "closed_at"),
        ({"closed_at": "yesterday"}, "closed_at"),
        ({"subject": "x" * 501}, "subject"),
        ({"customer": {"email": "eve@example.org", "locale": "english please"}}, "locale"),
    ],
    ids=[
        "unknown-field",
        "empty-id",
        "number-id",
        "bad-email",
        "unknown-customer-field",
        "naive-time",
        "not-a-time",
        "long-subject",
        "bad-locale",
    ],
)
def test_invalid_cases_are_refused_with_the_field_named(
    api: ApiClient, change: dict[str, Any], mentions: str
) -> None:
    response = api.post("/api/v1/cases/closed", json={**GOOD_CASE, **change})
    _assert_problem(response, 400, mentions)
    assert _stored_rows() == (0, 0, 0, 0)


@pytest.fixture
def survey_url(api: ApiClient) -> str:
    return str(api.close_case("BAD-SURVEY")["survey_url"])


@pytest.mark.parametrize(
    ("change", "mentions"),
    [
        ({"nps": 11}, "<= 10"),
        ({"nps": -1}, ">= 0"),
        ({"csat": 0}, ">= 1"),
        ({"nps": "7"}, "expected `int`, got `str`"),
        ({"nps": 7.5}, "expected `int`"),
        ({"csat": None}, "csat"),
        ({"mood": "fine"}, "unknown field `mood`"),
        ({"comment": "x" * 100_000}, "at most 5000 characters"),
    ],
    ids=[
        "nps-11",
        "nps-negative",
        "csat-0",
        "nps-string",
        "nps-float",
        "csat-null",
        "unknown",
        "100kB-comment",
    ],
)
def test_invalid_answers_are_refused_and_the_link_stays_usable(
    api: ApiClient, survey_url: str, change: dict[str, Any], mentions: str
) -> None:
    before = _stored_rows()
    body = {"token": survey_token(survey_url), "nps": 3, "csat": 2, "comment": "meh", **change}
    _assert_problem(api.post("/api/v1/responses", json=body), 400, mentions)
    assert _stored_rows() == before
    assert api.submit_json(survey_url, nps=3, csat=2).status_code == 201


def test_a_body_over_the_size_limit_gets_413(api: ApiClient, survey_url: str) -> None:
    body = {"token": survey_token(survey_url), "nps": 3, "csat": 2, "comment": "x" * 400_000}
    _assert_problem(api.post("/api/v1/responses", json=body), 413)
    assert run(SurveyResponse.count()) == 0


@pytest.mark.parametrize(
    "token",
    ["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "short", "../../etc/passwd", "a" * 65],
    ids=["unknown", "too-short", "path", "too-long"],
)
def test_unknown_or_malformed_tokens_get_404_on_the_api(api: ApiClient, token: str) -> None:
    response = api.post("/api/v1/responses", json={"token": token[:64], "nps": 3, "csat": 2})
    assert response.status_code in (400, 404)
    assert response.headers["content-type"].startswith("application/problem+json")
    assert run(SurveyResponse.count()) == 0


def test_a_tampered_token_gets_an_error_page(api: ApiClient, survey_url: str) -> None:
    token = survey_token(survey_url)
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    page = api.http.get(f"/s/{tampered}")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "not valid" in page.text
    posted = api.http.post(f"/s/{tampered}", data={"nps": "1", "csat": "1"})
    assert posted.status_code == 404
    assert run(SurveyResponse.count()) == 0


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"csat": "3", "comment": "kept"}, "Choose a number from 0 to 10"),
        ({"nps": "11", "csat": "3", "comment": "kept"}, "Choose a number from 0 to 10"),
        ({"nps": "5", "csat": "abc", "comment": "kept"}, "Choose how satisfied"),
        ({"nps": "5", "csat": "3", "comment": "y" * 5001}, "under 5000 characters"),
    ],
    ids=["missing-nps", "nps-11", "csat-text", "long-comment"],
)
def test_the_form_shows_what_to_fix_and_keeps_the_answers(
    api: ApiClient, survey_url: str, form: dict[str, str], message: str
) -> None:
    page = api.http.post(survey_path(survey_url), data=form)
    assert page.status_code == 400
    assert page.headers["content-type"].startswith("text/html")
    assert message in page.text
    assert 'role="alert"' in page.text
    if form["comment"] == "kept":
        assert ">kept</textarea>" in page.text
    assert run(SurveyResponse.count()) == 0


def test_a_huge_form_gets_an_error_page(api: ApiClient, survey_url: str) -> None:
    page = api.http.post(
        survey_path(survey_url), data={"nps": "1", "csat": "1", "comment": "z" * 400_000}
    )
    assert page.status_code == 413
    assert page.headers["content-type"].startswith("text/html")
    assert "too long" in page.text
    assert run(SurveyResponse.count()) == 0


def test_comments_are_stored_without_control_characters(api: ApiClient, survey_url: str) -> None:
    created = api.submit_json(survey_url, nps=9, csat=5, comment="  fine\x00 thanks\x07\n ")
    assert created.status_code == 201
    stored = api.get(f"/api/v1/responses/{created.json()['id']}").json()
    assert stored["comment"] == "fine thanks"
    assert "<script>" not in api.http.get(survey_path(survey_url)).text
