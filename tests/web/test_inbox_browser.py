"""An owner's day in a real browser: sign in on a phone, open the inbox and a task, note, record
a contact, resolve it with a root cause; the lead sees it resolved; another team's owner gets
a 404 page. One live server for the module."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from aftercare.root_causes import DEFAULT_ROOT_CAUSES
from tests.conftest import API_TOKEN, TEST_SETTINGS
from tests.helpers import SETTLE_TIMEOUT_SECONDS, serve, survey_token
from tests.web.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    PAGE_TIMEOUT_MS,
    PASSWORD,
    PHONE,
    give_everyone_the_password,
)

COMMENT = "The router still drops every evening. <script>alert('x')</script>"
ROOT_CAUSE_NAME = DEFAULT_ROOT_CAUSES[0][1]


@pytest.fixture(scope="module")
def server(module_db: None) -> Iterator[str]:
    from api.app import create_app

    with serve(create_app(TEST_SETTINGS)) as url:
        yield url


@pytest.fixture(scope="module")
def task_id(server: str) -> int:
    """Support (Olivia, Lena the lead) and billing (Bill); a support customer's angry answer
    became Olivia's task."""
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    with httpx.Client(base_url=server, headers=headers, timeout=30) as api:
        for slug in ("support", "billing"):
            assert api.post("/api/v1/teams", json={"slug": slug, "name": slug.title()}).is_success
        for email, name, role, team in [
            ("olivia@example.org", "Olivia Owner", "owner", "support"),
            ("lena@example.org", "Lena Lead", "lead", "support"),
            ("bill@example.org", "Bill Billing", "owner", "billing"),
        ]:
            user = {"email": email, "name": name, "role": role, "teams": [team]}
            assert api.post("/api/v1/users", json=user).status_code == 201
        case = {
            "external_id": "BROWSER-1",
            "subject": "Router drops every evening",
            "customer": {"email": "robin@example.org", "name": "Robin"},
            "team": "support",
            "closed_at": "2026-11-20T09:30:00Z",
        }
        invitation = api.post("/api/v1/cases/closed", json=case).json()
        answers = {"token": survey_token(invitation["survey_url"]), "nps": 1, "csat": 1}
        response = api.post("/api/v1/responses", json={**answers, "comment": COMMENT})
        assert response.status_code == 201, response.text
        found = _analysed(api, response.json()["id"])
    give_everyone_the_password()
    return int(found["follow_up_task_id"])


def _analysed(api: httpx.Client, response_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        body: dict[str, Any] = api.get(f"/api/v1/responses/{response_id}").json()
        if body["status"] != "pending":
            return body
        time.sleep(0.1)
    raise AssertionError(f"response {response_id} was not analysed")


@pytest.fixture
def browser(task_id: int) -> Iterator[Browser]:
    """Chromium, started after the data (sync Playwright blocks asyncio.run while it runs)."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


def new_page(browser: Browser, **options: Any) -> Page:
    context = browser.new_context(**options)
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    return context.new_page()


def sign_in(page: Page, email: str) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_an_owner_resolves_a_task_on_a_phone_and_the_lead_sees_it_resolved(
    browser: Browser, server: str, task_id: int
) -> None:
    page = new_page(browser, **PHONE)
    page.goto(server + "/inbox")
    expect(page).to_have_url(server + "/login?next=/inbox")
    sign_in(page, "olivia@example.org")

    expect(page.get_by_role("heading", level=1)).to_have_text("My tasks")
    assert page.locator("html").get_attribute("lang") == "en"
    page.get_by_role("link", name=f"#{task_id} Router drops every evening").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Task #{task_id}: Router drops every evening"
    )
    expect(page.get_by_text("<script>alert('x')</script>", exact=False)).to_be_visible()
    # Nothing on the page is wider than the phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["viewport"]["width"]

    page.get_by_label("Note", exact=True).fill("Called Robin, will call back after 6pm.")
    page.get_by_role("button", name="Add note").click()
    expect(page.get_by_role("status")).to_have_text("Note added.")
    expect(page.get_by_text("Called Robin, will call back after 6pm.")).to_be_visible()

    page.get_by_label("Phone").check()
    page.get_by_label("Reached the customer").check()
    page.get_by_label("What was said").fill("Booked an engineer for Friday.")
    page.get_by_role("button", name="Record contact").click()
    expect(page.get_by_role("status")).to_have_text("Contact recorded.")

    page.get_by_label("New status").select_option(label="In progress")
    page.get_by_role("button", name="Change status").click()
    expect(page.get_by_role("status")).to_have_text("Status changed.")
    page.get_by_label("New status").select_option(label="Resolved")
    page.get_by_label("Resolution note").fill("The engineer replaced the line filter.")
    page.get_by_role("button", name="Change status").click()
    expect(page.get_by_role("alert").first).to_contain_text("Root cause")
    expect(page.get_by_label("Resolution note")).to_have_value(
        "The engineer replaced the line filter."
    )
    page.get_by_label("Root cause").select_option(label=ROOT_CAUSE_NAME)
    page.get_by_role("button", name="Change status").click()
    expect(page.get_by_role("status")).to_have_text("Status changed.")
    expect(page.locator(".facts .status").first).to_have_text("Resolved")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You are signed out.")

    lead = new_page(browser, **DESKTOP)
    lead.goto(server + "/login")
    sign_in(lead, "lena@example.org")
    expect(lead.get_by_role("heading", level=1)).to_have_text("Team tasks")
    lead.get_by_label("Status", exact=True).select_option(label="Resolved")
    lead.get_by_role("button", name="Show tasks").click()
    expect(lead).to_have_url(re.compile(r"/inbox\?view=team&status=resolved"))
    card = lead.get_by_role("listitem").filter(has_text="Router drops every evening")
    expect(card).to_contain_text("Resolved")
    # The keyboard reaches the skip link first, and it shows where focus is.
    lead.keyboard.press("Tab")
    skip = lead.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    assert lead.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"


def test_an_owner_of_another_team_cannot_open_the_task_even_without_javascript(
    browser: Browser, server: str, task_id: int
) -> None:
    page = new_page(browser, java_script_enabled=False, **PHONE)
    page.goto(f"{server}/tasks/{task_id}")
    sign_in(page, "bill@example.org")

    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    expect(page).to_have_url(f"{server}/tasks/{task_id}")
