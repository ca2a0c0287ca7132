"""Browser fixtures: the real app under uvicorn on a free port, and headless Chromium.

Playwright cannot download browsers here, so it drives Debian's chromium.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from aftercare.accounts import hash_password
from aftercare.tables import Owner
from tests.conftest import API_TOKEN, TEST_SETTINGS, run
from tests.helpers import serve

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
}
DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 800}}
PAGE_TIMEOUT_MS = 15_000
# Everyone in the page tests signs in with this.
PASSWORD = "correct horse battery staple"
CSRF_FIELD = re.compile(r'name="_csrf_token" value="([^"]+)"')


@functools.cache
def _password_hash() -> str:
    # argon2 is slow on purpose: hash once per run.
    return hash_password(PASSWORD)


def give_everyone_the_password() -> None:
    """Every user in the database signs in with PASSWORD."""
    run(Owner.update({Owner.password_hash: _password_hash()}, force=True))


def csrf_token(client: httpx.Client, path: str = "/login") -> str:
    """The CSRF token a page's forms carry (its cookie is set on the client too)."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    match = CSRF_FIELD.search(page.text)
    assert match, "the page has no CSRF field"
    return match.group(1)


def post_sign_in(
    client: httpx.Client, email: str, password: str = PASSWORD, next_path: str = ""
) -> httpx.Response:
    """Sign in through the form, as a browser does."""
    token = csrf_token(client)
    form = {"email": email, "password": password, "next": next_path, "_csrf_token": token}
    return client.post("/login", data=form, follow_redirects=False)


def signed_in(client: httpx.Client, email: str) -> None:
    response = post_sign_in(client, email)
    assert response.status_code == 303, response.text


@dataclass(frozen=True)
class OpenCase:
    """A closed case whose survey nobody has answered yet."""

    case_id: int
    survey_url: str


@pytest.fixture
def live_server(db: None) -> Iterator[str]:
    """The whole app (pages, API, embedded worker) served by uvicorn; yields its base URL."""
    from api.app import create_app

    with serve(create_app(TEST_SETTINGS)) as url:
        yield url


@pytest.fixture
def api_http(live_server: str) -> Iterator[httpx.Client]:
    """The live server's JSON API, with the bearer token."""
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    with httpx.Client(base_url=live_server, headers=headers, timeout=30) as client:
        yield client


@pytest.fixture
def open_case(api_http: httpx.Client, live_server: str) -> OpenCase:
    """A team with an owner, and a case of theirs just closed: its survey waits for the customer."""
    _created(api_http.post("/api/v1/teams", json={"slug": "support", "name": "Support"}))
    owner = {"email": "olivia.owner@example.org", "name": "Olivia Owner", "team": "support"}
    _created(api_http.post("/api/v1/owners", json=owner))
    case = {
        "external_id": "WEB-1",
        "subject": "Broken router",
        "customer": {"email": "robin@example.org", "name": "Robin"},
        "team": "support",
        "agent": "Sam",
        "closed_at": "2026-11-20T09:30:00Z",
    }
    invitation = _created(api_http.post("/api/v1/cases/closed", json=case))
    # The link carries AFTERCARE_PUBLIC_URL; the browser must reach this server instead.
    link = urlsplit(invitation["survey_url"])
    return OpenCase(case_id=invitation["case_id"], survey_url=live_server + link.path)


def _created(response: httpx.Response) -> Any:
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def browser(db: None) -> Iterator[Browser]:
    """Headless Chromium, one per test.

    Started after `db` and stopped within the test: `db` calls asyncio.run, which refuses to
    run while sync Playwright marks the main thread's event loop as running.
    """
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def phone_page(browser: Browser) -> Iterator[Page]:
    """A page on a phone-sized, touch viewport."""
    yield from _page(browser, **PHONE)


@pytest.fixture
def phone_page_without_javascript(browser: Browser) -> Iterator[Page]:
    """A phone page whose browser has JavaScript turned off."""
    yield from _page(browser, java_script_enabled=False, **PHONE)


@pytest.fixture
def desktop_page(browser: Browser) -> Iterator[Page]:
    """A page on a desktop-sized viewport, for keyboard use."""
    yield from _page(browser, **DESKTOP)


def _page(browser: Browser, **options: Any) -> Iterator[Page]:
    context = browser.new_context(**options)
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()
