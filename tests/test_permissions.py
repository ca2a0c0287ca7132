"""Who may do what: every route of the app, every method, asked by every kind of caller.

The expectations are the table below, written out route by route (docs/api.md "Who may do
what" is the same policy in words). A route the app serves that the table does not name fails
the test, so a new route cannot arrive without saying who may call it.

Outcome classes: 401 (no token), 403 (the role may not), 404 (another team's row: its
existence is not revealed), ok (let through to do its work: neither 401, 403, 404 nor 500; the
path names real rows), open (a page or probe with no auth at all: neither 401, 403 nor 500).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from litestar.routes import HTTPRoute

from aftercare.accounts import issue_token
from aftercare.cases import ClosedCase, CustomerDetails, record_closed_case
from aftercare.clock import FixedClock
from aftercare.directory import NewTeam, NewUser, create_owner, create_team
from aftercare.responses import SurveyAnswers, submit_response
from aftercare.tables import DiscoveredTheme, DiscoveryRun, FollowUpTask, SignInFailure, Topic
from tests.conftest import API_TOKEN, PINNED_NOW, api_client, empty_database, run, settings_with
from tests.helpers import ApiClient, survey_token
from tests.web.conftest import csrf_token, give_everyone_the_password, signed_in

# Who calls, in the order of the table's columns.
PERSONAS = ("anonymous", "viewer", "owner_a", "owner_b", "lead_a", "admin", "bootstrap")

# (method, path) -> the outcome for each persona above. The path's ids name a task of team A
# (owned by owner_a), its case and response, owner_a as the owner or user, a token of
# owner_a's, a discovered theme, a topic and team A.
# Columns: anonymous, viewer, owner_a, owner_b, lead_a, admin (personal token), bootstrap.
EXPECTED: dict[tuple[str, str], str] = {
    # Integration calls: the helpdesk and the JSON survey submit (admin tokens only).
    ("POST", "/api/v1/cases/closed"): "401 403 403 403 403 ok ok",
    ("POST", "/api/v1/responses"): "401 403 403 403 403 ok ok",
    # Reports: cases, responses, themes.
    ("GET", "/api/v1/cases/{case_id}"): "401 ok 403 403 ok ok ok",
    ("GET", "/api/v1/responses/{response_id}"): "401 ok 403 403 ok ok ok",
    ("GET", "/api/v1/themes"): "401 ok 403 403 ok ok ok",
    ("POST", "/api/v1/themes/{theme_id}/promote"): "401 403 403 403 ok ok ok",
    # Tasks: everyone reads within their scope, viewers change nothing.
    ("GET", "/api/v1/tasks"): "401 ok ok ok ok ok ok",
    ("GET", "/api/v1/tasks/{task_id}"): "401 ok ok 404 ok ok ok",
    ("PATCH", "/api/v1/tasks/{task_id}"): "401 403 ok 404 ok ok ok",
    ("GET", "/api/v1/tasks/{task_id}/events"): "401 ok ok 404 ok ok ok",
    ("POST", "/api/v1/tasks/{task_id}/notes"): "401 403 ok 404 ok ok ok",
    ("POST", "/api/v1/tasks/{task_id}/contacts"): "401 403 ok 404 ok ok ok",
    ("POST", "/api/v1/tasks/{task_id}/claim"): "401 403 ok 404 ok ok ok",
    # The directory: teams, owners (leads and owners see their teams' people).
    ("GET", "/api/v1/teams"): "401 ok ok ok ok ok ok",
    ("POST", "/api/v1/teams"): "401 403 403 403 403 ok ok",
    ("GET", "/api/v1/teams/{slug}"): "401 ok ok ok ok ok ok",
    ("GET", "/api/v1/owners"): "401 ok ok ok ok ok ok",
    ("POST", "/api/v1/owners"): "401 403 403 403 403 ok ok",
    ("GET", "/api/v1/owners/{owner_id}"): "401 ok ok 404 ok ok ok",
    ("PATCH", "/api/v1/owners/{owner_id}"): "401 403 403 403 ok ok ok",
    # The taxonomy and root causes: everyone reads, leads and admins curate.
    ("GET", "/api/v1/topics"): "401 ok ok ok ok ok ok",
    ("POST", "/api/v1/topics"): "401 403 403 403 ok ok ok",
    ("GET", "/api/v1/topics/{key}"): "401 ok ok ok ok ok ok",
    ("PATCH", "/api/v1/topics/{key}"): "401 403 403 403 ok ok ok",
    ("GET", "/api/v1/root-causes"): "401 ok ok ok ok ok ok",
    ("POST", "/api/v1/root-causes"): "401 403 403 403 ok ok ok",
    # Users: admins manage them, leads read their teams' people; tokens: admin or the user.
    ("GET", "/api/v1/users"): "401 403 403 403 ok ok ok",
    ("POST", "/api/v1/users"): "401 403 403 403 403 ok ok",
    ("GET", "/api/v1/users/{user_id}"): "401 403 403 403 ok ok ok",
    ("PATCH", "/api/v1/users/{user_id}"): "401 403 403 403 403 ok ok",
    ("GET", "/api/v1/users/{user_id}/tokens"): "401 403 ok 403 403 ok ok",
    ("POST", "/api/v1/users/{user_id}/tokens"): "401 403 ok 403 403 ok ok",
    ("DELETE", "/api/v1/users/{user_id}/tokens/{token_id}"): "401 403 ok 403 403 ok ok",
    # The mail the product wrote: admins only.
    ("GET", "/api/v1/mail"): "401 403 403 403 403 ok ok",
    # Survey pages, probes, the API's documents and static files: no token at all.
    ("GET", "/"): "open open open open open open open",
    ("GET", "/s/{token}"): "open open open open open open open",
    ("POST", "/s/{token}"): "open open open open open open open",
    ("GET", "/s/{token}/thanks"): "open open open open open open open",
    ("GET", "/static/{file_path}"): "open open open open open open open",
    ("HEAD", "/static/{file_path}"): "open open open open open open open",
    ("GET", "/health"): "open open open open open open open",
    ("GET", "/ready"): "open open open open open open open",
    ("GET", "/schema"): "open open open open open open open",
    ("GET", "/schema/{path}"): "open open open open open open open",
    ("GET", "/schema/openapi.json"): "open open open open open open open",
    ("GET", "/schema/openapi.yaml"): "open open open open open open open",
    ("GET", "/schema/openapi.yml"): "open open open open open open open",
    ("GET", "/schema/swagger"): "open open open open open open open",
    ("GET", "/schema/redoc"): "open open open open open open open",
    ("GET", "/schema/rapidoc"): "open open open open open open open",
    ("GET", "/schema/elements"): "open open open open open open open",
    ("GET", "/schema/oauth2-redirect.html"): "open open open open open open open",
}
# The signed-in pages answer who signed in (a session), not a bearer token; "signin" is a
# redirect to the sign-in page. Columns: anonymous, viewer, owner_a, owner_b, lead_a, admin.
PAGE_PERSONAS = ("anonymous", "viewer", "owner_a", "owner_b", "lead_a", "admin")
PAGES: dict[tuple[str, str], str] = {
    ("GET", "/login"): "open open open open open open",
    ("POST", "/login"): "open open open open open open",
    ("GET", "/inbox"): "signin ok ok ok ok ok",
    ("GET", "/tasks/{task_id}"): "signin ok ok 404 ok ok",
    ("POST", "/tasks/{task_id}/notes"): "signin 403 ok 404 ok ok",
    ("POST", "/tasks/{task_id}/contacts"): "signin 403 ok 404 ok ok",
    ("POST", "/tasks/{task_id}/status"): "signin 403 ok 404 ok ok",
    ("POST", "/tasks/{task_id}/priority"): "signin 403 ok 404 ok ok",
    ("POST", "/tasks/{task_id}/owner"): "signin 403 ok 404 ok ok",
    ("POST", "/tasks/{task_id}/claim"): "signin 403 ok 404 ok ok",
    ("GET", "/admin/mail"): "signin 403 403 403 403 ok",
    # Last: it ends the session.
    ("POST", "/logout"): "open open open open open open",
}
PAGE_FORMS: dict[tuple[str, str], dict[str, str]] = {
    ("POST", "/tasks/{task_id}/notes"): {"text": "Called, no answer."},
    ("POST", "/tasks/{task_id}/contacts"): {"channel": "phone", "outcome": "no_answer"},
    ("POST", "/tasks/{task_id}/priority"): {"priority": "P1"},
}

# OPTIONS, on every path: any live token under /api/v1 (it names the methods, no data), none
# elsewhere.
OPTIONS_UNDER_API = "401 ok ok ok ok ok ok"
OPTIONS_ELSEWHERE = "open open open open open open open"


# Valid bodies where the task's scope is checked after the body is read (so another team's
# caller meets the 404, not a 400). Elsewhere an empty body: it passes the guards and changes
# nothing that matters here.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/tasks/{task_id}/notes"): {"text": "Called, no answer."},
    ("POST", "/api/v1/tasks/{task_id}/contacts"): {"channel": "phone", "outcome": "no_answer"},
}


class World(msgspec.Struct, kw_only=True):
    tokens: dict[str, str]
    path_values: dict[str, str]


@pytest.fixture(scope="module")
def world(migrated_database: None) -> World:
    """Teams A and B, one person of each kind, and a task of team A owned by owner_a."""
    empty_database()
    built = run(_build_world(FixedClock(PINNED_NOW)))
    give_everyone_the_password()
    return built


@pytest.fixture(scope="module")
def app(world: World) -> Iterator[ApiClient]:
    with api_client(settings_with(embedded_worker="off")) as client:
        yield client


async def _build_world(clock: FixedClock) -> World:
    now = clock()
    for slug in ("team-a", "team-b"):
        await create_team(NewTeam(slug=slug, name=slug.title()), now=now)
    people = {
        "viewer": ("viewer", []),
        "owner_a": ("owner", ["team-a"]),
        "owner_b": ("owner", ["team-b"]),
        "lead_a": ("lead", ["team-a"]),
        "admin": ("admin", []),
    }
    ids: dict[str, int] = {}
    tokens = {"anonymous": "", "bootstrap": API_TOKEN}
    for persona, (role, teams) in people.items():
        user = NewUser(email=f"{persona}@example.org", name=persona, role=role, teams=teams)
        ids[persona] = (await create_owner(user, now=now)).id
        tokens[persona] = (await issue_token(ids[persona], "matrix", now=now)).token
    spare = await issue_token(ids["owner_a"], "spare, revoked by the matrix", now=now)
    invitation, _ = await record_closed_case(
        ClosedCase(
            external_id="PERM-1", customer=CustomerDetails(email="c@example.org"), team="team-a"
        ),
        public_url="http://aftercare.test",
        clock=clock,
    )
    response_id = await submit_response(
        survey_token(invitation.survey_url),
        SurveyAnswers(nps=1, csat=1),
        comment_max_chars=100,
        clock=clock,
    )
    task = await _task_of_team_a(response_id, invitation.case_id, ids["owner_a"], now)
    theme_id = await _a_discovered_theme(now)
    topic = await Topic.select(Topic.key).order_by(Topic.id).first()
    assert topic is not None
    return World(
        tokens=tokens,
        path_values={
            "task_id": str(task),
            "case_id": str(invitation.case_id),
            "response_id": str(response_id),
            "owner_id": str(ids["owner_a"]),
            "user_id": str(ids["owner_a"]),
            "token_id": str(spare.id),
            "theme_id": str(theme_id),
            "key": topic["key"],
            "slug": "team-a",
            "token": survey_token(invitation.survey_url),
            "file_path": "survey.css",
            "path": "swagger",
        },
    )


async def _task_of_team_a(response_id: int, case_id: int, owner_id: int, now: dt.datetime) -> int:
    from aftercare.tables import Team

    team = await Team.select(Team.id).where(Team.slug == "team-a").first()
    assert team is not None
    inserted = await FollowUpTask.insert(
        FollowUpTask(
            response=response_id,
            support_case=case_id,
            team=team["id"],
            owner=owner_id,
            status="open",
            priority="P2",
            reasons="[]",
            due_at=now + dt.timedelta(hours=24),
            created_at=now,
            updated_at=now,
        )
    ).returning(FollowUpTask.id)
    return int(inserted[0]["id"])


async def _a_discovered_theme(now: dt.datetime) -> int:
    discovery = await DiscoveryRun.insert(
        DiscoveryRun(started_at=now, finished_at=now, since=now, sentences=2, themes=1)
    ).returning(DiscoveryRun.id)
    theme = await DiscoveredTheme.insert(
        DiscoveredTheme(
            run=discovery[0]["id"],
            label="late refunds",
            terms='["refund"]',
            size=2,
            representatives='["Where is my refund?"]',
            created_at=now,
        )
    ).returning(DiscoveredTheme.id)
    return int(theme[0]["id"])


def _served_routes(app: ApiClient) -> set[tuple[str, str]]:
    """Every (method, path) the app serves, OPTIONS included."""
    served = set()
    for route in app.http.app.routes:
        assert isinstance(route, HTTPRoute), route
        served |= {(method, route.path_format) for method in route.methods}
    return served


def _expected(method: str, path: str) -> dict[str, str]:
    if method == "OPTIONS":
        row = OPTIONS_UNDER_API if path.startswith("/api/v1/") else OPTIONS_ELSEWHERE
    else:
        row = EXPECTED[(method, path)]
    outcomes = row.split()
    assert len(outcomes) == len(PERSONAS), (method, path, row)
    return dict(zip(PERSONAS, outcomes, strict=True))


def _matches(outcome: str, status: int, location: str = "") -> bool:
    if outcome == "signin":
        return status == 303 and location.startswith("/login?next=")
    if outcome == "ok":
        return status not in (401, 403, 404, 500)
    if outcome == "open":
        return status not in (401, 403, 500)
    return status == int(outcome)


def test_the_table_names_every_route_the_app_serves_and_nothing_else(app: ApiClient) -> None:
    served = _served_routes(app)
    named = (
        set(EXPECTED)
        | set(PAGES)
        | {(method, path) for method, path in served if method == "OPTIONS"}
    )
    assert served - named == set(), "routes without a line in EXPECTED: say who may call them"
    assert named - served == set(), "lines in EXPECTED for routes the app no longer serves"


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_route_answers_each_caller_as_the_table_says(
    app: ApiClient, world: World, persona: str
) -> None:
    token = world.tokens[persona]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    wrong = []
    for method, path in sorted(_served_routes(app) - set(PAGES)):
        expected = _expected(method, path)[persona]
        url = path.format(**{name: world.path_values[name] for name in _names(path)})
        body = BODIES.get((method, path), {} if method in ("POST", "PATCH") else None)
        answer = app.http.request(method, url, headers=headers, json=body)
        if not _matches(expected, answer.status_code):
            wrong.append(f"{method} {path}: expected {expected}, got {answer.status_code}")
    assert wrong == [], f"{persona}:\n" + "\n".join(wrong)


def _names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


@pytest.mark.parametrize("persona", PAGE_PERSONAS)
def test_every_page_answers_each_signed_in_person_as_the_table_says(
    app: ApiClient, world: World, persona: str
) -> None:
    http = app.http
    http.cookies.clear()
    # The empty sign-in form below is a failed sign-in from this address: start each count anew.
    run(SignInFailure.delete(force=True))
    if persona == "anonymous":
        form_token = csrf_token(http, "/login")
    else:
        signed_in(http, f"{persona}@example.org")
        form_token = csrf_token(http, "/inbox")
    wrong = []
    for (method, path), row in PAGES.items():
        expected = dict(zip(PAGE_PERSONAS, row.split(), strict=True))[persona]
        url = path.format(**{name: world.path_values[name] for name in _names(path)})
        if method == "GET":
            answer = http.get(url, follow_redirects=False)
        else:
            form = {**PAGE_FORMS.get((method, path), {}), "_csrf_token": form_token}
            answer = http.post(url, data=form, follow_redirects=False)
        if not _matches(expected, answer.status_code, answer.headers.get("location", "")):
            wrong.append(f"{method} {path}: expected {expected}, got {answer.status_code}")
    http.cookies.clear()
    assert wrong == [], f"{persona}:\n" + "\n".join(wrong)
