"""Accounts: users with roles, personal API tokens (hashed, listable, revocable), what each
role may do with them, and the CLI and demo that make the first ones."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from aftercare.accounts import password_matches
from aftercare.tables import ApiToken, Owner
from tests.conftest import TEST_DIR, TEST_SETTINGS, cli_environment, fresh_database_url, run
from tests.helpers import ApiClient

AFTERCARE = str(Path(sys.executable).parent / "aftercare")


def _user(api: ApiClient, email: str, role: str, teams: list[str] | None = None) -> Any:
    body = {"email": email, "name": email.split("@")[0].title(), "role": role}
    response = api.post("/api/v1/users", json={**body, "teams": teams or []})
    assert response.status_code == 201, response.text
    return response.json()


def _token_for(api: ApiClient, user: dict[str, Any], name: str = "laptop") -> str:
    issued = api.post(f"/api/v1/users/{user['id']}/tokens", json={"name": name})
    assert issued.status_code == 201, issued.text
    return str(issued.json()["token"])


def _as(api: ApiClient, token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def people(api: ApiClient) -> dict[str, Any]:
    api.create_team("support")
    return {
        "lead": _user(api, "lena@example.org", "lead", ["support"]),
        "owner": _user(api, "olivia@example.org", "owner", ["support"]),
        "viewer": _user(api, "vic@example.org", "viewer"),
    }


def test_a_token_is_shown_once_and_only_its_hash_is_stored(
    api: ApiClient, people: dict[str, Any]
) -> None:
    owner = people["owner"]
    issued = api.post(f"/api/v1/users/{owner['id']}/tokens", json={"name": "laptop"}).json()
    token = issued["token"]

    assert token.startswith("act_") and len(token) > 40
    [row] = run(ApiToken.select())
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(row)
    listed = api.get(f"/api/v1/users/{owner['id']}/tokens").json()
    assert [(t["name"], t["prefix"], t["last_used_at"]) for t in listed] == [
        ("laptop", token[:12], None)
    ]
    assert "token" not in listed[0]

    assert api.http.get("/api/v1/tasks", headers=_as(api, token)).status_code == 200
    assert api.get(f"/api/v1/users/{owner['id']}/tokens").json()[0]["last_used_at"] is not None


def test_a_revoked_token_or_a_deactivated_user_is_refused_at_once(
    api: ApiClient, people: dict[str, Any]
) -> None:
    owner, lead = people["owner"], people["lead"]
    owner_token, lead_token = _token_for(api, owner), _token_for(api, lead)
    [listed] = api.get(f"/api/v1/users/{owner['id']}/tokens").json()

    revoked = api.http.delete(
        f"/api/v1/users/{owner['id']}/tokens/{listed['id']}", headers=_as(api, owner_token)
    )

    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert api.http.get("/api/v1/tasks", headers=_as(api, owner_token)).status_code == 401
    api.patch(f"/api/v1/users/{lead['id']}", json={"active": False})
    assert api.http.get("/api/v1/tasks", headers=_as(api, lead_token)).status_code == 401


def test_a_viewer_reads_but_every_change_is_refused_with_403(
    api: ApiClient, people: dict[str, Any]
) -> None:
    viewer = _as(api, _token_for(api, people["viewer"]))
    assert api.http.get("/api/v1/tasks", headers=viewer).status_code == 200
    assert api.http.get("/api/v1/teams", headers=viewer).status_code == 200
    for method, path, body in [
        ("POST", "/api/v1/teams", {"slug": "x", "name": "X"}),
        ("PATCH", "/api/v1/tasks/1", {"priority": "P1"}),
        ("POST", "/api/v1/tasks/1/notes", {"text": "hi"}),
        ("POST", "/api/v1/root-causes", {"key": "x", "name": "X"}),
        ("POST", f"/api/v1/users/{people['viewer']['id']}/tokens", {"name": "more"}),
    ]:
        refused = api.http.request(method, path, headers=viewer, json=body)
        assert refused.status_code == 403, (method, path, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
    assert run(Owner.count()) == 3


def test_only_admins_manage_users_leads_read_their_teams_and_others_only_their_own_tokens(
    api: ApiClient, people: dict[str, Any]
) -> None:
    lead, owner, viewer = people["lead"], people["owner"], people["viewer"]
    lead_headers = _as(api, _token_for(api, lead))
    for method, path in [
        ("POST", "/api/v1/users"),
        ("PATCH", f"/api/v1/users/{owner['id']}"),
        ("POST", f"/api/v1/users/{owner['id']}/tokens"),
        ("GET", f"/api/v1/users/{owner['id']}/tokens"),
    ]:
        response = api.http.request(method, path, headers=lead_headers, json={"name": "x"})
        assert response.status_code == 403, (method, path, response.text)
    # A lead reads the people of their teams, and no one else.
    listed = api.http.get("/api/v1/users", headers=lead_headers).json()
    assert [user["email"] for user in listed] == ["lena@example.org", "olivia@example.org"]
    assert api.http.get(f"/api/v1/users/{owner['id']}", headers=lead_headers).status_code == 200
    assert api.http.get(f"/api/v1/users/{viewer['id']}", headers=lead_headers).status_code == 404
    own = api.http.post(
        f"/api/v1/users/{lead['id']}/tokens", headers=lead_headers, json={"name": "ci"}
    )
    assert own.status_code == 201
    admin = _user(api, "ada@example.org", "admin")
    admin_headers = _as(api, _token_for(api, admin))
    assert api.http.get("/api/v1/users", headers=admin_headers).status_code == 200


def test_changes_made_with_a_personal_token_are_recorded_under_that_user(
    api: ApiClient, people: dict[str, Any]
) -> None:
    owner = people["owner"]
    case = api.close_case("ACC-1", team="support")
    api.answer_survey_form(case["survey_url"], nps=1, csat=1, comment="")
    task_id = api.wait_until_analysed(api.response_id_of_case(case["case_id"]))[
        "follow_up_task_id"
    ]
    headers = _as(api, _token_for(api, owner))

    api.http.patch(f"/api/v1/tasks/{task_id}", headers=headers, json={"status": "in_progress"})

    change = api.get(f"/api/v1/tasks/{task_id}/events").json()[-1]
    assert change["actor"] == "olivia@example.org"
    assert change["data"]["actor_user_id"] == owner["id"]


def test_users_have_roles_and_teams_and_bad_ones_are_refused(api: ApiClient) -> None:
    api.create_team("support")
    lead = _user(api, "Lena@Example.org", "lead", ["support"])
    assert (lead["email"], lead["role"], lead["teams"]) == ("lena@example.org", "lead", ["support"])
    assert api.post(
        "/api/v1/users", json={"email": "x@example.org", "name": "X", "role": "boss"}
    ).status_code == 400
    unknown_team = api.post(
        "/api/v1/users", json={"email": "y@example.org", "name": "Y", "teams": ["nope"]}
    )
    assert unknown_team.status_code == 422
    moved = api.patch(f"/api/v1/users/{lead['id']}", json={"role": "viewer", "teams": []})
    assert (moved.json()["role"], moved.json()["teams"]) == ("viewer", [])


def test_the_cli_creates_users_and_sets_passwords_hashed_with_argon2(db: None) -> None:
    env = cli_environment(AFTERCARE_DATABASE_URL=TEST_SETTINGS.database_url)

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [AFTERCARE, "users", *args],
            input=stdin,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=TEST_DIR,
        )

    created = cli("create", "--email", "Nia@Example.org", "--role", "lead")
    assert created.returncode == 0, created.stderr
    assert "created lead nia@example.org" in created.stdout
    set_password = cli("set-password", "--email", "nia@example.org", stdin="correct horse 1\n")
    assert set_password.returncode == 0, set_password.stderr
    hashed = run(Owner.select(Owner.password_hash).first())["password_hash"]
    assert hashed.startswith("$argon2id$")
    assert password_matches(hashed, "correct horse 1")
    assert not password_matches(hashed, "correct horse 2")

    short = cli("set-password", "--email", "nia@example.org", stdin="short\n")
    assert short.returncode == 2 and "at least 12 characters" in short.stderr
    nobody = cli("set-password", "--email", "ghost@example.org", stdin="long enough pass\n")
    assert nobody.returncode == 2 and "No user" in nobody.stderr
    twice = cli("create", "--email", "nia@example.org")
    assert twice.returncode == 2 and "already exists" in twice.stderr


def test_the_demo_prints_logins_for_an_admin_a_lead_and_two_owners(tmp_path: Path) -> None:
    env = cli_environment(
        AFTERCARE_DATABASE_URL=fresh_database_url("aftercare_demo_logins"),
        AFTERCARE_DATA_DIR=str(tmp_path),
    )
    result = subprocess.run(
        [AFTERCARE, "demo"], env=env, capture_output=True, text=True, timeout=300, cwd=TEST_DIR
    )
    assert result.returncode == 0, result.stderr
    logins = dict(re.findall(r"^\s+(\S+@example\.com)\s+(\S{12,})$", result.stdout, re.M))
    assert set(logins) == {
        "admin@example.com",
        "lead@example.com",
        "sam@example.com",
        "marco@example.com",
    }


def test_an_owner_claims_a_task_of_their_team_and_another_team_cannot_see_it(
    api: ApiClient, people: dict[str, Any]
) -> None:
    api.create_team("billing")
    owner = people["owner"]
    outsider = _user(api, "bill@example.org", "owner", ["billing"])
    case = api.close_case("CLAIM-1", team="support")
    api.answer_survey_form(case["survey_url"], nps=1, csat=1, comment="")
    task_id = api.wait_until_analysed(api.response_id_of_case(case["case_id"]))[
        "follow_up_task_id"
    ]
    mine = _as(api, _token_for(api, owner))
    # Routing gave her the task; away and back again leaves it unassigned (no one else).
    api.patch(f"/api/v1/users/{owner['id']}", json={"away_until": "2099-01-01T00:00:00Z"})
    api.patch(f"/api/v1/users/{owner['id']}", json={"away_until": None})
    assert api.http.get("/api/v1/tasks?owner=me", headers=mine).json()["total"] == 0

    claimed = api.http.post(f"/api/v1/tasks/{task_id}/claim", headers=mine)

    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["owner"]["email"] == "olivia@example.org"
    listed = api.http.get("/api/v1/tasks?owner=me", headers=mine).json()
    assert [task["id"] for task in listed["items"]] == [task_id]
    event = api.get(f"/api/v1/tasks/{task_id}/events").json()[-1]
    assert (event["kind"], event["actor"]) == ("owner_id_changed", "olivia@example.org")
    theirs = _as(api, _token_for(api, outsider))
    # Another team's task does not exist for them: not in their list, 404 to read or claim.
    assert api.http.get("/api/v1/tasks", headers=theirs).json()["total"] == 0
    assert api.http.get(f"/api/v1/tasks/{task_id}", headers=theirs).status_code == 404
    assert api.http.post(f"/api/v1/tasks/{task_id}/claim", headers=theirs).status_code == 404
    assert api.http.get(f"/api/v1/tasks/{task_id}/events", headers=theirs).status_code == 404
    assert api.post(f"/api/v1/tasks/{task_id}/claim").status_code == 422
    assert api.get("/api/v1/tasks?owner=me").status_code == 422
