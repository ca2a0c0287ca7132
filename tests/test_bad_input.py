"""Bad input gets a clear 4xx (problem details, or an error page) and writes nothing."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import asyncpg
import httpx
import pytest

import api.tasks as task_controller
import web.survey_pages as survey_pages
from aftercare.fields import MAX_ID, TEXT_PATTERN
from aftercare.tables import ALL_TABLES, Customer, OutboxMessage, SupportCase, SurveyResponse
from tests.conftest import API_TOKEN, run
from tests.helpers import ApiClient, survey_path, survey_token

BIN = Path(sys.executable).parent
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
    ("change", "status", "mentions"),
    [
        ({"nps": 11}, 400, "<= 10"),
        ({"nps": -1}, 400, ">= 0"),
        ({"csat": 0}, 400, ">= 1"),
        ({"nps": "7"}, 400, "expected `int`, got `str`"),
        ({"nps": 7.5}, 400, "expected `int`"),
        ({"csat": None}, 400, "csat"),
        ({"mood": "fine"}, 400, "unknown field `mood`"),
        # Well-formed, but over AFTERCARE_COMMENT_MAX_CHARS: unprocessable rather than malformed.
        ({"comment": "x" * 100_000}, 422, "at most 5000 characters"),
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
    api: ApiClient, survey_url: str, change: dict[str, Any], status: int, mentions: str
) -> None:
    before = _stored_rows()
    body = {"token": survey_token(survey_url), "nps": 3, "csat": 2, "comment": "meh", **change}
    _assert_problem(api.post("/api/v1/responses", json=body), status, mentions)
    assert _stored_rows() == before
    assert api.submit_json(survey_url, nps=3, csat=2).status_code == 201


def test_a_whole_number_written_with_a_fraction_is_an_integer(
    api: ApiClient, survey_url: str
) -> None:
    # JSON Schema, and so the OpenAPI document, counts 3.0 as the integer 3.
    body = {"token": survey_token(survey_url), "nps": 3.0, "csat": 2e0}
    assert api.post("/api/v1/responses", json=body).status_code == 201


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


def test_tabs_and_line_breaks_are_kept_in_a_comment(api: ApiClient, survey_url: str) -> None:
    created = api.submit_json(survey_url, nps=9, csat=5, comment="  fine\tthanks\r\nbye\n ")
    assert created.status_code == 201
    stored = api.get(f"/api/v1/responses/{created.json()['id']}").json()
    assert stored["comment"] == "fine\tthanks\r\nbye"


# Every string field of every input Struct, with where it goes (path, body).
TEXT_FIELDS = [
    ("/api/v1/cases/closed", "POST", {**GOOD_CASE, "external_id": "X"}, "external_id"),
    ("/api/v1/cases/closed", "POST", {**GOOD_CASE, "subject": "X"}, "subject"),
    ("/api/v1/cases/closed", "POST", {**GOOD_CASE, "team": "X"}, "team"),
    ("/api/v1/cases/closed", "POST", {**GOOD_CASE, "agent": "X"}, "agent"),
    (
        "/api/v1/cases/closed",
        "POST",
        {**GOOD_CASE, "customer": {"email": "e@x.org", "name": "X"}},
        "customer.name",
    ),
    (
        "/api/v1/cases/closed",
        "POST",
        {**GOOD_CASE, "customer": {"email": "eXe@x.org"}},
        "customer.email",
    ),
    (
        "/api/v1/cases/closed",
        "POST",
        {**GOOD_CASE, "customer": {"email": "e@x.org", "locale": "X"}},
        "customer.locale",
    ),
    ("/api/v1/teams", "POST", {"slug": "billing", "name": "X"}, "name"),
    ("/api/v1/teams", "POST", {"slug": "billingX", "name": "Billing"}, "slug"),
    ("/api/v1/owners", "POST", {"email": "nXa@example.org", "name": "Nia"}, "email"),
    ("/api/v1/owners", "POST", {"email": "nia@example.org", "name": "X"}, "name"),
    ("/api/v1/owners", "POST", {"email": "nia@example.org", "name": "Nia", "team": "X"}, "team"),
    ("/api/v1/owners/{owner}", "PATCH", {"name": "X"}, "name"),
    ("/api/v1/topics", "POST", {"key": "new_x", "name": "X", "examples": ["x"]}, "name"),
    (
        "/api/v1/topics",
        "POST",
        {"key": "new_x", "name": "N", "description": "X", "examples": ["x"]},
        "description",
    ),
    (
        "/api/v1/topics",
        "POST",
        {"key": "new_x", "name": "N", "examples": ["ok", "X"]},
        "examples[1]",
    ),
    ("/api/v1/topics", "POST", {"key": "newX", "name": "N", "examples": ["x"]}, "key"),
    ("/api/v1/topics/{topic}", "PATCH", {"description": "X"}, "description"),
    ("/api/v1/topics/{topic}", "PATCH", {"examples": ["X"]}, "examples[0]"),
    ("/api/v1/themes/1/promote", "POST", {"key": "theme_x", "name": "X"}, "name"),
    (
        "/api/v1/responses",
        "POST",
        {"token": "{token}", "nps": 3, "csat": 2, "comment": "X"},
        "comment",
    ),
    ("/api/v1/responses", "POST", {"token": "X", "nps": 3, "csat": 2}, "token"),
]


def _with_character(value: Any, character: str, names: dict[str, str]) -> Any:
    """The body with every "X" replaced by `character`, and {placeholders} filled in."""
    if isinstance(value, dict):
        return {key: _with_character(item, character, names) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_character(item, character, names) for item in value]
    if isinstance(value, str):
        return value.replace("X", f"a{character}b").format(**names)
    return value


def _database_rows() -> dict[str, list[dict[str, Any]]]:
    return {table._meta.tablename: run(table.select()) for table in ALL_TABLES}


@pytest.fixture
def names(api: ApiClient, survey_url: str) -> dict[str, str]:
    """Things the bodies and paths refer to: an owner, a topic and an open survey link."""
    api.create_team("support")
    owner = api.create_owner("sam@example.org", team="support")
    topic = api.get("/api/v1/topics").json()[0]["key"]
    return {"owner": str(owner["id"]), "topic": topic, "token": survey_token(survey_url)}


@pytest.mark.parametrize(
    ("path", "method", "body", "field"),
    TEXT_FIELDS,
    ids=[f"{method}-{path.split('/')[3]}-{field}" for path, method, _, field in TEXT_FIELDS],
)
def test_a_nul_byte_in_any_text_field_is_refused_with_400_naming_the_field(
    api: ApiClient, names: dict[str, str], path: str, method: str, body: Any, field: str
) -> None:
    before = _database_rows()
    response = api.http.request(
        method,
        path.format(**names),
        json=_with_character(body, "\x00", names),
        headers=api.auth,
    )
    problem = _assert_problem(response, 400, field)
    assert field in [error["field"] for error in problem["errors"]]
    assert _database_rows() == before


@pytest.mark.parametrize(
    "character",
    ["\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f", "\x85", "\x9f"],
    ids=repr,
)
def test_any_control_character_but_tab_and_line_breaks_is_refused(
    api: ApiClient, character: str
) -> None:
    response = api.post("/api/v1/cases/closed", json={**GOOD_CASE, "subject": f"a{character}b"})
    problem = _assert_problem(response, 400, "control characters")
    assert problem["errors"] == [{"field": "subject", "message": problem["errors"][0]["message"]}]
    assert _stored_rows() == (0, 0, 0, 0)


def test_tabs_and_line_breaks_are_fine_in_free_text(api: ApiClient) -> None:
    subject = "Router\tbroken\r\nsince Monday\n"
    case = api.close_case("TABS-1", subject=subject, agent="Sam\tLee")
    stored = api.get(f"/api/v1/cases/{case['case_id']}").json()
    assert (stored["subject"], stored["agent"]) == (subject, "Sam\tLee")


def test_the_openapi_schema_documents_the_rule_on_text_fields(api: ApiClient) -> None:
    schemas = api.get("/schema/openapi.json").json()["components"]["schemas"]
    closed_case = next(schema for name, schema in schemas.items() if name.endswith("ClosedCase"))
    assert closed_case["properties"]["subject"]["pattern"] == TEXT_PATTERN


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/api/v1/teams/ab%00c", "slug"),
        ("/api/v1/topics/ab%00c", "key"),
        ("/api/v1/owners?team=ab%00c", "team"),
        ("/api/v1/tasks?owner=sam%00@example.org", "owner"),
        ("/api/v1/tasks?owner=sam%1b@example.org", "owner"),
        ("/api/v1/tasks?status=open%00", "status"),
    ],
)
def test_a_control_character_in_a_path_or_query_parameter_gets_400_naming_it(
    api: ApiClient, path: str, parameter: str
) -> None:
    problem = _assert_problem(api.get(path), 400, parameter)
    assert [error["field"] for error in problem["errors"]] == [parameter]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_nul_byte_in_a_survey_link_gets_an_error_page(
    api: ApiClient, survey_url: str, method: str
) -> None:
    path = survey_path(survey_url)[:-1] + "%00"
    page = api.http.request(method, path, data={"nps": "1", "csat": "1"})
    assert page.status_code == 400
    assert page.headers["content-type"].startswith("text/html")
    assert run(SurveyResponse.count()) == 0


@pytest.mark.parametrize(
    ("method", "path", "parameter"),
    [
        ("GET", "/api/v1/tasks/9651597644512336", "task_id"),
        ("GET", "/api/v1/cases/3000000000", "case_id"),
        ("GET", "/api/v1/cases/2147483648", "case_id"),
        ("GET", "/api/v1/responses/0", "response_id"),
        ("GET", "/api/v1/owners/-1", "owner_id"),
        ("PATCH", "/api/v1/owners/99999999999999999999999999", "owner_id"),
        ("POST", "/api/v1/themes/2147483648/promote", "theme_id"),
        ("GET", "/api/v1/tasks?offset=3000000000000000000000", "offset"),
        ("GET", "/api/v1/tasks?offset=-1", "offset"),
        ("GET", "/api/v1/tasks?limit=0", "limit"),
        ("GET", "/api/v1/tasks?limit=501", "limit"),
    ],
)
def test_an_id_or_paging_parameter_out_of_range_gets_400_naming_it(
    api: ApiClient, method: str, path: str, parameter: str
) -> None:
    body = {"name": "x"} if method == "PATCH" else {"key": "x"} if method == "POST" else None
    response = api.http.request(method, path, json=body, headers=api.auth)
    problem = _assert_problem(response, 400, parameter)
    assert [error["field"] for error in problem["errors"]] == [parameter]


def test_the_largest_id_is_well_formed_and_names_nothing_so_gets_404(api: ApiClient) -> None:
    _assert_problem(api.get(f"/api/v1/cases/{MAX_ID}"), 404)
    assert api.get(f"/api/v1/tasks?offset={MAX_ID}").json()["items"] == []


def test_the_openapi_schema_documents_the_id_range(api: ApiClient) -> None:
    operation = api.get("/schema/openapi.json").json()["paths"]["/api/v1/tasks/{task_id}"]["get"]
    [task_id] = operation["parameters"]
    assert (task_id["schema"]["minimum"], task_id["schema"]["maximum"]) == (1, MAX_ID)


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"nps": "²", "csat": "3"}, "Choose a number from 0 to 10"),
        ({"nps": "①", "csat": "3"}, "Choose a number from 0 to 10"),
        ({"nps": "٣", "csat": "3"}, "Choose a number from 0 to 10"),
        ({"nps": "1_0", "csat": "3"}, "Choose a number from 0 to 10"),
        ({"nps": "9" * 5000, "csat": "3"}, "Choose a number from 0 to 10"),
        ({"nps": "5", "csat": "³"}, "Choose how satisfied"),
    ],
    ids=[
        "superscript-two",
        "circled-one",
        "arabic-indic-three",
        "underscore",
        "5000-digits",
        "superscript-csat",
    ],
)
def test_a_score_that_is_not_a_plain_number_gets_the_choose_a_score_error(
    api: ApiClient, survey_url: str, form: dict[str, str], message: str
) -> None:
    page = api.http.post(survey_path(survey_url), data={**form, "comment": "kept"})
    assert page.status_code == 400
    assert message in page.text
    assert ">kept</textarea>" in page.text
    assert run(SurveyResponse.count()) == 0


def test_a_control_character_in_an_api_comment_is_refused_and_the_link_stays_usable(
    api: ApiClient, survey_url: str
) -> None:
    problem = _assert_problem(api.submit_json(survey_url, 3, 2, "bad\x00comment"), 400, "comment")
    assert problem["errors"][0]["field"] == "comment"
    assert _stored_rows()[2:] == (0, 0)
    assert api.submit_json(survey_url, nps=3, csat=2, comment="fine").status_code == 201


def test_a_control_character_in_a_form_comment_shows_the_form_again_with_the_answers(
    api: ApiClient, survey_url: str
) -> None:
    form = {"nps": "4", "csat": "2", "comment": "slow\x1b reply"}
    page = api.http.post(survey_path(survey_url), data=form)
    assert page.status_code == 400
    assert 'id="comment-error"' in page.text and "control characters" in page.text
    assert re.search(r'name="nps" value="4" required\s+checked', page.text)
    assert "slow\x1b reply</textarea>" in page.text
    assert _stored_rows()[2:] == (0, 0)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/v1/tasks", 200),
        ("GET", "/api/v1/no-such-thing", 404),
        ("POST", "/api/v1/cases/closed", 400),
        ("GET", "/s/AAAAAAAAAAAAAAAAAAAAAAAA", 404),
        ("GET", "/health", 200),
    ],
)
def test_every_response_names_a_new_request_id(
    api: ApiClient, method: str, path: str, status: int
) -> None:
    first, second = (api.http.request(method, path, headers=api.auth) for _ in range(2))
    assert first.status_code == status
    assert re.fullmatch(r"[0-9a-f]{32}", first.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


def test_a_request_without_the_token_still_names_its_request_id(api: ApiClient) -> None:
    response = api.http.get("/api/v1/tasks", headers={"X-Request-ID": "from-the-gateway-1"})
    assert response.status_code == 401
    assert response.headers["X-Request-ID"] == "from-the-gateway-1"


@pytest.mark.parametrize(
    ("incoming", "kept"),
    [
        ("3f2a9c1e-6d4b-4a8e-9f00-1c2d3e4f5a6b", True),
        ("Root=1-5759e988-bd862e3fe1be46a994272793", True),
        ("web.1:req/42+x", True),
        ("has spaces", False),
        ("x" * 129, False),
        ("<script>alert(1)</script>", False),
        ("line\tbreak", False),
    ],
    ids=["uuid", "aws-trace", "punctuation", "spaces", "too-long", "markup", "tab"],
)
def test_a_sane_incoming_request_id_is_kept_and_any_other_replaced(
    api: ApiClient, incoming: str, kept: bool
) -> None:
    answered = api.get("/api/v1/tasks", headers={"X-Request-ID": incoming}).headers["X-Request-ID"]
    assert (answered == incoming) is kept
    assert re.fullmatch(r"[A-Za-z0-9._:/+=-]{1,128}", answered)


def _explode(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("boom: internal state that must not leak")


def _logged_with_traceback(caplog: pytest.LogCaptureFixture, request_id: str) -> logging.LogRecord:
    [record] = [record for record in caplog.records if request_id in record.getMessage()]
    assert record.exc_info is not None and record.exc_info[0] is not None
    return record


def test_an_unexpected_error_is_a_500_problem_naming_the_request_id_and_logged_with_its_traceback(
    api: ApiClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(task_controller, "list_tasks", _explode)
    response = api.get("/api/v1/tasks", headers={"X-Request-ID": "trace-500-api"})
    body = _assert_problem(response, 500)
    assert body["request_id"] == response.headers["X-Request-ID"] == "trace-500-api"
    assert "boom" not in response.text
    record = _logged_with_traceback(caplog, "trace-500-api")
    assert record.levelno == logging.ERROR and "GET /api/v1/tasks" in record.getMessage()


def test_an_unexpected_error_on_a_survey_page_is_a_page_naming_the_request_id(
    api: ApiClient,
    survey_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(survey_pages, "find_invitation", _explode)
    page = api.http.get(survey_path(survey_url), headers={"X-Request-ID": "trace-500-page"})
    assert page.status_code == 500
    assert page.headers["content-type"].startswith("text/html")
    assert "trace-500-page" in page.text and "boom" not in page.text
    record = _logged_with_traceback(caplog, "trace-500-page")
    # Survey links are credentials: the log names the page without the token.
    assert survey_token(survey_url) not in record.getMessage()


UNAVAILABLE = [
    ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)"),
    OSError("Multiple exceptions: [Errno 111] Connect call failed, [Errno 99] Cannot assign"),
    TimeoutError(),
    asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
    asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle"),
    asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
    asyncpg.exceptions.InterfaceError("connection is closed"),
    sqlite3.OperationalError("unable to open database file"),
    sqlite3.OperationalError("disk I/O error"),
    sqlite3.OperationalError("database is locked"),
    sqlite3.DatabaseError("file is not a database"),
]


def _raise(error: Exception) -> Any:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise error

    return fail


@pytest.mark.parametrize("error", UNAVAILABLE, ids=lambda error: type(error).__name__)
def test_a_database_that_cannot_answer_gets_503_with_retry_after(
    api: ApiClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    error: Exception,
) -> None:
    monkeypatch.setattr(task_controller, "list_tasks", _raise(error))
    response = api.get("/api/v1/tasks", headers={"X-Request-ID": "trace-503"})
    body = _assert_problem(response, 503)
    assert int(response.headers["Retry-After"]) >= 1
    assert body["request_id"] == "trace-503"
    _logged_with_traceback(caplog, "trace-503")


@pytest.mark.parametrize("failing", ["find_invitation", "submit_response"])
def test_a_survey_form_the_database_cannot_take_comes_back_with_the_answers_and_503(
    api: ApiClient,
    survey_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    failing: str,
) -> None:
    down = asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")
    monkeypatch.setattr(survey_pages, failing, _raise(down))
    page = api.http.post(
        survey_path(survey_url),
        data={"nps": "2", "csat": "1", "comment": "Still waiting."},
        headers={"X-Request-ID": "trace-503-form"},
    )
    _assert_the_form_came_back_unsaved(page)
    _logged_with_traceback(caplog, "trace-503-form")
    assert run(SurveyResponse.count()) == 0


def _assert_the_form_came_back_unsaved(page: Any) -> None:
    assert page.status_code == 503
    assert page.headers["content-type"].startswith("text/html")
    assert int(page.headers["Retry-After"]) >= 1
    assert "We could not save your answer just now" in page.text
    assert re.search(r'name="nps" value="2" required\s+checked', page.text)
    assert re.search(r'name="csat" value="1" required\s+checked', page.text)
    assert ">Still waiting.</textarea>" in page.text


@pytest.fixture(
    params=["postgresql://postgres@127.0.0.1:1/aftercare", "sqlite:///{tmp}/a-directory"],
    ids=["postgres-down", "sqlite-unreadable"],
)
def unreachable_database_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """`aftercare serve` whose database cannot be reached: nothing listens, or not a file."""
    (tmp_path / "a-directory").mkdir()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")}
    env.update(
        AFTERCARE_DATABASE_URL=request.param.format(tmp=tmp_path),
        AFTERCARE_BROKER_URL="stub://",
        AFTERCARE_EMBEDDED_WORKER="off",
        AFTERCARE_API_TOKEN=API_TOKEN,
        AFTERCARE_DATA_DIR=str(tmp_path),
        AFTERCARE_LOG_LEVEL="INFO",
    )
    log_path = tmp_path / "serve.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [BIN / "aftercare", "serve", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        try:
            _wait_until_it_answers(client, process)
            yield Server(client, log_path)
        finally:
            client.close()
            process.terminate()
            process.wait(timeout=30)


class Server(NamedTuple):
    http: httpx.Client
    log: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_it_answers(client: httpx.Client, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "aftercare serve exited"
        with contextlib.suppress(httpx.TransportError):
            if client.get("/health").status_code == 200:
                return
        time.sleep(0.2)
    raise AssertionError("aftercare serve did not start")


def test_while_the_database_is_down_the_api_and_the_survey_form_answer_503_never_500(
    unreachable_database_app: Server,
) -> None:
    server = unreachable_database_app
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    for method, path, body in [
        ("GET", "/api/v1/tasks", None),
        ("POST", "/api/v1/cases/closed", GOOD_CASE),
    ]:
        response = server.http.request(
            method, path, json=body, headers={**auth, "X-Request-ID": f"down-{method}"}
        )
        problem = _assert_problem(response, 503, "cannot be reached")
        assert int(response.headers["Retry-After"]) >= 1
        assert problem["request_id"] == response.headers["X-Request-ID"] == f"down-{method}"

    token = "A" * 32
    page = server.http.get(f"/s/{token}")
    assert page.status_code == 503 and "try again" in page.text.lower()
    form = server.http.post(
        f"/s/{token}",
        data={"nps": "2", "csat": "1", "comment": "Still waiting."},
        headers={"X-Request-ID": "down-form"},
    )
    _assert_the_form_came_back_unsaved(form)

    log = server.log.read_text()
    assert " 503" in log and "Traceback" in log
    assert all(f"request_id={rid}" in log for rid in ("down-GET", "down-POST", "down-form"))
    assert not re.search(r'" 500\b|Internal Server Error|Exception in ASGI', log), log[-3000:]
    assert token not in log
