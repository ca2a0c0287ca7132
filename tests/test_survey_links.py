"""Survey links: they expire, and the access log never shows their tokens."""

from __future__ import annotations

import datetime as dt
import logging
import socket
import threading
import time

import httpx
import uvicorn

from aftercare.clock import FixedClock
from aftercare.tables import Invitation, OutboxMessage, SurveyResponse
from api.app import create_app
from tests.conftest import API_TOKEN, TEST_SETTINGS, run, settings_with
from tests.helpers import ApiClient, survey_path, survey_token

CLOSED = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)


def test_a_survey_link_takes_answers_until_it_expires_then_shows_a_clear_page(db: None) -> None:
    clock = FixedClock(CLOSED)
    settings = settings_with(survey_link_days=2)
    with ApiClient.for_app(create_app(settings, clock=clock), token=API_TOKEN) as api:
        early, late = api.close_case("LINK-1"), api.close_case("LINK-2")
        expiries = run(Invitation.select(Invitation.expires_at))
        assert [row["expires_at"] for row in expiries] == [CLOSED + dt.timedelta(days=2)] * 2

        clock.advance(days=2, seconds=-1)
        assert api.answer_survey_form(early["survey_url"], 9, 5, "Fine.").status_code == 200

        clock.advance(seconds=1)
        page = api.http.get(survey_path(late["survey_url"]))
        assert page.status_code == 410
        assert "expired" in page.text and "text/html" in page.headers["content-type"]
        form = api.http.post(
            survey_path(late["survey_url"]), data={"nps": "3", "csat": "1", "comment": "Late."}
        )
        assert form.status_code == 410 and "expired" in form.text
        json_submit = api.submit_json(late["survey_url"], nps=3, csat=1, comment="Late.")
        assert json_submit.status_code == 410
        assert json_submit.headers["content-type"].startswith("application/problem+json")
        assert json_submit.json()["title"] == "Survey link expired"

    # The early answer was stored; the expired link stored nothing and queued nothing.
    assert run(SurveyResponse.count()) == 1
    assert run(OutboxMessage.count()) == 1


def test_links_last_28_days_by_default(db: None) -> None:
    clock = FixedClock(CLOSED)
    with ApiClient.for_app(create_app(TEST_SETTINGS, clock=clock), token=API_TOKEN) as api:
        api.close_case("LINK-3")
    row = run(Invitation.select(Invitation.created_at, Invitation.expires_at).first())
    assert row["expires_at"] - row["created_at"] == dt.timedelta(days=28)


def test_the_access_log_never_shows_a_survey_token(db: None) -> None:
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    with ApiClient.for_app(create_app(TEST_SETTINGS), token=API_TOKEN) as api:
        token = survey_token(api.close_case("LINK-4")["survey_url"])
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(TEST_SETTINGS), log_level="info"))
    access_log = logging.getLogger("uvicorn.access")
    handler = Collect()
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        access_log.addHandler(handler)
        for path in (f"/s/{token}", f"/s/{token}/thanks", f"/s/{token}x"):
            httpx.get(f"http://127.0.0.1:{port}{path}")
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()
        access_log.removeHandler(handler)

    survey_lines = [line for line in records if "/s/" in line]
    assert len(survey_lines) == 3, records
    assert all(f"/s/{token[:4]}…" in line for line in survey_lines)
    assert not any(token[4:12] in line for line in records)
