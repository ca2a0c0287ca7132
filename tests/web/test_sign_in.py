"""Signing in on the web: sessions in the database, CSRF on every form, throttled failures,
signing out, the way back to the page asked for, and deactivated users signed out at once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar import get
from litestar.di import NamedDependency

from aftercare.accounts import Caller
from aftercare.clock import FixedClock
from aftercare.demo import DEMO_LOGINS, seed_demo
from aftercare.settings import Settings, with_secret_key
from aftercare.sign_in import (
    FAILED_SIGN_IN_WINDOW,
    MAX_FAILED_SIGN_INS,
    SESSION_LIFETIME,
    SignInRefused,
    TooManySignIns,
    forget_expired_sign_ins,
    sign_in,
)
from aftercare.tables import SignInFailure, WebSession
from tests.conftest import api_client, run, settings_with
from tests.helpers import ApiClient
from tests.web.conftest import (
    PASSWORD,
    csrf_token,
    give_everyone_the_password,
    post_sign_in,
    signed_in,
)
from web.signed_in import signed_in_with_role

SESSION_COOKIE = "aftercare_session"


# Signing in needs no analysis: no worker, so each app starts and stops quickly.
PAGES_ONLY = settings_with(embedded_worker="off")


@pytest.fixture
def desk(db: None, clock: FixedClock) -> Iterator[ApiClient]:
    """The app on a pinned clock; a support team with an owner and a lead, a viewer, all with
    passwords."""
    with api_client(PAGES_ONLY, clock) as api:
        api.create_team("support")
        for email, role in [
            ("olivia@example.org", "owner"),
            ("lena@example.org", "lead"),
            ("vic@example.org", "viewer"),
        ]:
            teams = [] if role == "viewer" else ["support"]
            body = {"email": email, "name": email.split("@")[0].title(), "role": role}
            created = api.post("/api/v1/users", json={**body, "teams": teams})
            assert created.status_code == 201, created.text
        give_everyone_the_password()
        yield api


def session_rows() -> list[dict[str, Any]]:
    return list(run(WebSession.select()))


def test_an_owner_signs_in_and_the_session_holds_only_who_and_since_when(
    desk: ApiClient, clock: FixedClock
) -> None:
    page = desk.http.get("/login")
    assert page.status_code == 200 and '<label for="password">Password</label>' in page.text
    assert SESSION_COOKIE not in page.cookies, "no session before signing in"

    response = post_sign_in(desk.http, "Olivia@Example.org")

    assert response.status_code == 303 and response.headers["location"] == "/inbox"
    cookie = next(
        header
        for header in response.headers.get_list("set-cookie")
        if header.startswith(SESSION_COOKIE + "=")
    )
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    session_id = desk.http.cookies[SESSION_COOKIE]
    [row] = session_rows()
    assert row["key"] != session_id, "the table keeps a hash of the id, not the id"
    assert row["expires_at"] == clock() + SESSION_LIFETIME
    stored = msgspec.json.decode(bytes(row["value"]))
    assert set(stored) == {"user_id", "signed_in_at"}
    inbox = desk.http.get("/inbox")
    assert inbox.status_code == 200 and "olivia@example.org" in inbox.text


def test_reading_pages_writes_no_session_and_signing_in_again_gives_a_new_session_id(
    desk: ApiClient,
) -> None:
    signed_in(desk.http, "olivia@example.org")
    first_id = desk.http.cookies[SESSION_COOKIE]
    inbox = desk.http.get("/inbox")
    assert inbox.status_code == 200
    assert SESSION_COOKIE not in inbox.headers.get("set-cookie", "")

    signed_in(desk.http, "olivia@example.org")

    assert desk.http.cookies[SESSION_COOKIE] != first_id
    assert len(session_rows()) == 1, "the old session is gone"


def test_a_stranger_is_sent_to_sign_in_and_comes_back_to_the_page_asked_for(
    desk: ApiClient,
) -> None:
    asked = desk.http.get("/inbox?status=resolved&priority=P1", follow_redirects=False)
    assert asked.status_code == 303
    location = asked.headers["location"]
    assert location.startswith("/login?next=")

    form = desk.http.get(location)
    assert 'name="next" value="/inbox?status=resolved&amp;priority=P1"' in form.text
    response = post_sign_in(desk.http, "olivia@example.org", next_path="/inbox?status=resolved")

    assert response.headers["location"] == "/inbox?status=resolved"


def test_only_paths_on_this_site_are_followed_after_signing_in(desk: ApiClient) -> None:
    for next_path in [
        "https://evil.example/",
        "//evil.example/inbox",
        "/\\evil.example",
        "javascript:alert(1)",
        "/inbox\r\nSet-Cookie: x=1",
    ]:
        response = post_sign_in(desk.http, "olivia@example.org", next_path=next_path)
        assert response.status_code == 303, next_path
        assert response.headers["location"] == "/inbox", next_path


def test_five_failures_lock_the_account_with_429_and_retry_after_even_for_the_right_password(
    desk: ApiClient, clock: FixedClock
) -> None:
    for _ in range(MAX_FAILED_SIGN_INS):
        wrong = post_sign_in(desk.http, "olivia@example.org", "not the password")
        assert wrong.status_code == 400 and "not right" in wrong.text
        clock.advance(minutes=1)

    refused = post_sign_in(desk.http, "olivia@example.org")

    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("text/html")
    assert "Too many failed sign-ins" in refused.text
    # The first failure leaves the 15-minute window 10 minutes from now.
    assert refused.headers["retry-after"] == str(10 * 60)
    assert SESSION_COOKIE not in desk.http.cookies
    clock.advance(minutes=10)
    assert post_sign_in(desk.http, "olivia@example.org").status_code == 303


def test_the_throttle_counts_per_account_and_per_address_and_a_success_clears_only_the_account(
    desk: ApiClient, clock: FixedClock
) -> None:
    now = clock()

    def attempt(email: str, password: str, ip: str) -> str:
        try:
            run(sign_in(email, password, client_ip=ip, now=now))
        except SignInRefused:
            return "refused"
        except TooManySignIns as error:
            return f"throttled {error.retry_after_seconds}"
        return "signed in"

    # Four failures from four addresses, then the right password clears the account's count.
    for n in range(MAX_FAILED_SIGN_INS - 1):
        assert attempt("olivia@example.org", "wrong", f"10.0.0.{n}") == "refused"
    assert attempt("olivia@example.org", PASSWORD, "10.0.0.9") == "signed in"
    assert attempt("olivia@example.org", "wrong", "10.0.1.1") == "refused"
    assert attempt("olivia@example.org", PASSWORD, "10.0.1.2") == "signed in"

    # One address guessing at several accounts is stopped, and a success there does not help.
    for email in ["a@example.org", "b@example.org", "c@example.org", "d@example.org"]:
        assert attempt(email, "guess", "192.0.2.7") == "refused"
    assert attempt("lena@example.org", PASSWORD, "192.0.2.7") == "signed in"
    assert attempt("e@example.org", "guess", "192.0.2.7") == "refused"
    seconds = int(FAILED_SIGN_IN_WINDOW.total_seconds())
    assert attempt("lena@example.org", PASSWORD, "192.0.2.7") == f"throttled {seconds}"
    assert attempt("lena@example.org", PASSWORD, "192.0.2.8") == "signed in"

    # Failures that left the window are swept.
    run(forget_expired_sign_ins(now=now + FAILED_SIGN_IN_WINDOW))
    assert run(SignInFailure.count()) == 0


def test_a_form_post_without_the_csrf_token_is_refused_and_changes_nothing(
    desk: ApiClient,
) -> None:
    desk.http.get("/login")  # the CSRF cookie is set; only the form field is missing
    form = {"email": "olivia@example.org", "password": PASSWORD}
    refused = desk.http.post("/login", data=form, follow_redirects=False)

    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("text/html")
    assert "This form has expired" in refused.text
    assert session_rows() == []

    signed_in(desk.http, "olivia@example.org")
    forged_sign_out = desk.http.post("/logout", data={"_csrf_token": "forged" * 20})
    assert forged_sign_out.status_code == 403
    assert desk.http.get("/inbox", follow_redirects=False).status_code == 200


def test_signing_out_deletes_the_session(desk: ApiClient) -> None:
    signed_in(desk.http, "olivia@example.org")
    token = csrf_token(desk.http, "/inbox")

    response = desk.http.post("/logout", data={"_csrf_token": token}, follow_redirects=False)

    assert response.status_code == 303
    assert desk.http.get(response.headers["location"]).text.count("You are signed out.") == 1
    assert session_rows() == []
    assert desk.http.get("/inbox", follow_redirects=False).status_code == 303


def test_a_deactivated_user_is_signed_out_at_once(desk: ApiClient) -> None:
    signed_in(desk.http, "olivia@example.org")
    assert desk.http.get("/inbox").status_code == 200
    [olivia] = [u for u in desk.get("/api/v1/users").json() if u["email"].startswith("olivia")]

    changed = desk.patch(f"/api/v1/users/{olivia['id']}", json={"active": False})
    assert changed.status_code == 200, changed.text

    inbox = desk.http.get("/inbox", follow_redirects=False)
    assert inbox.status_code == 303 and inbox.headers["location"] == "/login?next=/inbox"
    assert session_rows() == []
    assert post_sign_in(desk.http, "olivia@example.org").status_code == 400


def test_an_expired_session_signs_no_one_in_and_is_deleted(
    desk: ApiClient, clock: FixedClock
) -> None:
    signed_in(desk.http, "olivia@example.org")
    clock.advance(seconds=SESSION_LIFETIME.total_seconds())

    assert desk.http.get("/inbox", follow_redirects=False).status_code == 303
    assert session_rows() == []

    # Sessions nobody comes back to are swept by the housekeeping loop (every half second).
    signed_in(desk.http, "lena@example.org")
    post_sign_in(desk.http, "olivia@example.org", "wrong")
    clock.advance(seconds=SESSION_LIFETIME.total_seconds())
    deadline = time.monotonic() + 10
    while (session_rows() or run(SignInFailure.count())) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert session_rows() == [] and run(SignInFailure.count()) == 0


def test_a_viewer_reads_the_inbox_but_every_form_post_is_refused(desk: ApiClient) -> None:
    signed_in(desk.http, "vic@example.org")
    inbox = desk.http.get("/inbox")
    assert inbox.status_code == 200 and "Team tasks" in inbox.text
    token = csrf_token(desk.http, "/inbox")

    for path in ["/tasks/1/notes", "/tasks/1/claim", "/tasks/1/status"]:
        refused = desk.http.post(path, data={"_csrf_token": token, "text": "hello"})
        assert refused.status_code == 403, path
        assert "may read these pages, not change them" in refused.text

    signed_out = desk.http.post("/logout", data={"_csrf_token": token}, follow_redirects=False)
    assert signed_out.status_code == 303


def test_session_cookies_are_secure_when_the_public_url_is_https(db: None) -> None:
    settings = msgspec.structs.replace(PAGES_ONLY, public_url="https://feedback.example.com")
    with api_client(settings) as api:
        page = api.http.get("/login")
        assert "Secure" in page.headers["set-cookie"]


def test_the_secret_key_is_generated_once_and_kept_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path / "data"))

    first, second = with_secret_key(settings), with_secret_key(settings)

    assert first.secret_key and first.secret_key == second.secret_key
    stored = tmp_path / "data" / "secret-key"
    assert stored.read_text().strip() == first.secret_key
    assert stored.stat().st_mode & 0o777 == 0o600
    given = with_secret_key(msgspec.structs.replace(settings, secret_key="from-env"))
    assert given.secret_key == "from-env"


def test_the_login_page_is_linked_from_the_home_page(desk: ApiClient) -> None:
    home = desk.http.get("/")
    assert '<a class="button-link" href="/login">Sign in</a>' in home.text


def test_every_demo_login_opens_the_inbox(db: None, clock: FixedClock) -> None:
    with api_client(PAGES_ONLY, clock) as api:
        demo = run(seed_demo(public_url="http://127.0.0.1:8000", clock=clock))
        assert set(demo.logins) == set(DEMO_LOGINS)
        for email, password in demo.logins.items():
            api.http.cookies.clear()
            assert post_sign_in(api.http, email, password).status_code == 303, email
            inbox = api.http.get("/inbox")
            assert inbox.status_code == 200 and email in inbox.text


def test_a_page_for_one_role_opens_for_that_role_only(desk: ApiClient) -> None:
    @get("/role-check", dependencies={"caller": signed_in_with_role("admin")})
    async def role_check(caller: NamedDependency[Caller]) -> str:
        return caller.role

    desk.http.app.register(role_check)
    admin = {"email": "ada@example.org", "name": "Ada", "role": "admin", "teams": []}
    assert desk.post("/api/v1/users", json=admin).status_code == 201
    give_everyone_the_password()

    assert desk.http.get("/role-check", follow_redirects=False).status_code == 303
    signed_in(desk.http, "lena@example.org")
    assert desk.http.get("/role-check").status_code == 403
    signed_in(desk.http, "ada@example.org")
    allowed = desk.http.get("/role-check")
    assert allowed.status_code == 200 and allowed.text == "admin"
