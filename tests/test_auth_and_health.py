"""Bearer-token auth on the API; open health probes, survey pages and schema."""

from __future__ import annotations

import time

import pytest

from api.app import create_app
from tests.conftest import API_TOKEN, settings_with
from tests.helpers import ApiClient


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic dGVzdA=="},
        {"Authorization": "Bearer "},
    ],
    ids=["missing", "wrong", "basic", "empty"],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/tasks"),
        ("POST", "/api/v1/cases/closed"),
        ("GET", "/api/v1/owners"),
        ("POST", "/api/v1/responses"),
        ("GET", "/api/v1/responses/1"),
    ],
)
def test_the_api_refuses_requests_without_the_right_token(
    api: ApiClient, headers: dict[str, str], method: str, path: str
) -> None:
    response = api.http.request(method, path, headers=headers, json={})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"] == "Bearer"


def test_health_and_readiness_answer_without_a_token(api: ApiClient) -> None:
    assert api.http.get("/health").json() == {"status": "ok"}
    ready = api.http.get("/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert {key: body[key] for key in ("status", "database", "broker", "housekeeping")} == {
        "status": "ok",
        "database": "ok",
        "broker": "ok",
        "housekeeping": "ok",
    }
    assert 0 <= body["housekeeping_age_seconds"] < 60


def test_readiness_turns_503_when_housekeeping_rounds_stop_succeeding(db: None) -> None:
    # Rounds run at start-up, then only when woken: after the stale limit nothing has run.
    settings = settings_with(housekeeping_interval_seconds=3600,
        housekeeping_stale_after_seconds=1.0,
        analysis_batch_wait_ms=0,
    )
    with ApiClient.for_app(create_app(settings), token=API_TOKEN) as api:
        time.sleep(1.5)
        stale = api.http.get("/ready")
        assert stale.status_code == 503
        assert stale.json()["housekeeping"] == "stale"
        assert stale.json()["housekeeping_age_seconds"] > 1.0

        # A new answer wakes the loop: a round succeeds and readiness is back.
        case = api.close_case("READY-1")
        assert api.submit_json(case["survey_url"], nps=9, csat=5).status_code == 201
        deadline = time.monotonic() + 10
        while api.http.get("/ready").status_code != 200:
            assert time.monotonic() < deadline, "readiness did not come back"
            time.sleep(0.1)


def test_the_openapi_schema_lists_the_api(api: ApiClient) -> None:
    schema = api.http.get("/schema/openapi.json").json()
    for path in [
        "/api/v1/cases/closed",
        "/api/v1/responses",
        "/api/v1/tasks",
        "/api/v1/owners",
        "/api/v1/teams",
        "/health",
        "/ready",
    ]:
        assert path in schema["paths"], path
    assert not any(path.startswith("/s/") for path in schema["paths"])


def test_unknown_api_paths_get_problem_details(api: ApiClient) -> None:
    response = api.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
