"""Bearer-token auth on the API; open health probes, survey pages and schema."""

from __future__ import annotations

import pytest

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
    assert ready.json() == {"status": "ok", "database": "ok", "broker": "ok"}


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
