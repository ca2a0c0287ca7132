"""Theme discovery over stored sentences, its schedule, and promoting a theme to a topic."""

from __future__ import annotations

import datetime as dt

from aftercare.analysis import analyse_responses
from aftercare.cases import ClosedCase, CustomerDetails, record_closed_case
from aftercare.clock import FixedClock, system_clock
from aftercare.responses import SurveyAnswers, submit_response
from aftercare.tables import DiscoveryRun, OutboxMessage
from aftercare.tasks import FollowUpPolicy
from aftercare.themes import run_discovery, schedule_discovery, start_discovery_run
from nlp.pipeline import find_themes
from tests.conftest import TEST_SETTINGS, run
from tests.helpers import ApiClient, survey_token
from tests.nlp.test_discovery import APP_LOGIN_FAILURES, DOUBLE_CHARGES, LATE_DELIVERIES
from worker.models import packaged_analyser


async def _answered(comments: list[str]) -> None:
    ids = []
    for number, comment in enumerate(comments):
        invitation, _ = await record_closed_case(
            ClosedCase(external_id=f"T-{number}", customer=CustomerDetails(email="t@example.org")),
            public_url="http://x",
            clock=system_clock,
        )
        ids.append(
            await submit_response(
                survey_token(invitation.survey_url),
                SurveyAnswers(nps=7, csat=3, comment=comment),
                comment_max_chars=5000,
                clock=system_clock,
            )
        )
    analyser = packaged_analyser(TEST_SETTINGS)
    await analyse_responses(ids, analyser, policy=FollowUpPolicy(), clock=system_clock)


def test_discovery_finds_the_recurring_themes_and_a_lead_promotes_one(api: ApiClient) -> None:
    assert api.get("/api/v1/themes").json() == []
    run(_answered(LATE_DELIVERIES + DOUBLE_CHARGES + APP_LOGIN_FAILURES))
    run_id = run(start_discovery_run(clock=system_clock, window=dt.timedelta(days=1)))
    run(run_discovery(run_id, find_themes, clock=system_clock))

    themes = api.get("/api/v1/themes").json()
    groups = {"deliveries": LATE_DELIVERIES, "charges": DOUBLE_CHARGES, "login": APP_LOGIN_FAILURES}
    # Comments are split into sentences, so a group may show as two themes (login vs. errors),
    # but every theme is one group's, and every group is found.
    found = {_group(theme, groups) for theme in themes}
    assert found == set(groups)
    assert sum(theme["size"] for theme in themes) >= 45
    login = max((t for t in themes if _group(t, groups) == "login"), key=lambda t: t["size"])

    promoted = api.post(f"/api/v1/themes/{login['id']}/promote", json={"key": "app_login"})
    assert promoted.status_code == 201, promoted.text
    topic = promoted.json()
    assert topic["source"] == "discovered"
    assert topic["examples"] == login["representatives"]
    assert api.get("/api/v1/topics/app_login").status_code == 200
    again = api.post(f"/api/v1/themes/{login['id']}/promote", json={"key": "app_login_2"})
    assert again.status_code == 409
    refreshed = next(t for t in api.get("/api/v1/themes").json() if t["id"] == login["id"])
    assert refreshed["promoted_topic"] == "app_login"
    assert api.post("/api/v1/themes/999999/promote", json={"key": "x"}).status_code == 404


def _group(theme: dict[str, object], groups: dict[str, list[str]]) -> str:
    representatives = theme["representatives"]
    assert isinstance(representatives, list) and representatives
    owners = {
        name
        for sentence in representatives
        for name, comments in groups.items()
        if any(sentence in comment for comment in comments)
    }
    assert len(owners) == 1, f"theme {theme['label']!r} mixes {owners}"
    return owners.pop()


def test_discovery_is_scheduled_once_per_interval(db: None) -> None:
    clock = FixedClock(dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC))
    every, window = dt.timedelta(hours=24), dt.timedelta(days=30)
    assert run(schedule_discovery(clock=clock, every=every, window=window)) is True
    clock.advance(hours=23)
    assert run(schedule_discovery(clock=clock, every=every, window=window)) is False
    clock.advance(hours=2)
    assert run(schedule_discovery(clock=clock, every=every, window=window)) is True
    assert run(DiscoveryRun.count()) == 2
    kinds = [row["kind"] for row in run(OutboxMessage.select(OutboxMessage.kind))]
    assert kinds == ["discover_themes", "discover_themes"]
