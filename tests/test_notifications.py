"""Owners hear of new work by mail: a task given to them (opened, reassigned, moved from an absent
owner) sends one message with the customer's words and the link to the task's page, through a
real SMTP server; at most once per event and recipient, retried while the server is down; with
no server configured the messages are kept for admins to read."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import pytest

from aftercare.clock import FixedClock
from aftercare.db import write_transaction
from aftercare.mail import SmtpMail, SmtpServer, mail_channel, smtp_server
from aftercare.notifications import (
    add_notification,
    deliver_notification,
    stale_mail_after,
)
from aftercare.settings import SettingsError, load_settings
from aftercare.tables import Notification, OutboxMessage, TaskEvent
from tests.conftest import TEST_SETTINGS, api_client, run, settings_with
from tests.helpers import ApiClient
from tests.mail_server import Inbox, free_port, wait_until
from tests.mail_server import smtp_server as running_smtp_server
from tests.web.conftest import csrf_token, give_everyone_the_password, signed_in

PUBLIC_URL = "https://feedback.example.com"
COMPLAINT = "The router died twice this week.\nNobody called back."


class Mailroom:
    """The app on a pinned clock with a real SMTP server, a support team and two owners."""

    def __init__(
        self, api: ApiClient, inbox: Inbox, port: int, owners: dict[str, dict[str, Any]]
    ) -> None:
        self.api = api
        self.inbox = inbox
        self.port = port
        self.owners = owners


@pytest.fixture
def mailroom(db: None, clock: FixedClock) -> Iterator[Mailroom]:
    port = free_port()
    settings = settings_with(smtp_url=f"smtp://127.0.0.1:{port}", public_url=PUBLIC_URL + "/")
    with running_smtp_server(port) as inbox, api_client(settings, clock) as api:
        api.create_team("support")
        owners = {
            name: api.create_owner(f"{name}@example.org", team="support")
            for name in ("olivia", "oscar")
        }
        yield Mailroom(api, inbox, port, owners)


def _owner_setup(api: ApiClient) -> dict[str, Any]:
    api.create_team("support")
    return api.create_owner("olivia@example.org", team="support")


def _detractor_task(api: ApiClient, case: str, comment: str = COMPLAINT) -> dict[str, Any]:
    invitation = api.close_case(case, team="support")
    api.answer_survey_form(invitation["survey_url"], nps=2, csat=1, comment=comment)
    analysed = api.wait_until_analysed(api.response_id_of_case(invitation["case_id"]))
    return dict(api.get(f"/api/v1/tasks/{analysed['follow_up_task_id']}").json())


def _notifications() -> list[dict[str, Any]]:
    return list(run(Notification.select().order_by(Notification.id)))


def _settled(status: str, count: int = 1) -> list[dict[str, Any]] | None:
    """The notifications once `count` of them have `status` (else None)."""
    rows = _notifications()
    return rows if sum(row["status"] == status for row in rows) >= count else None


def _all_settled() -> bool:
    """Nothing left in the outbox and no message waiting for delivery."""
    undispatched = run(OutboxMessage.count().where(OutboxMessage.dispatched_at.is_null()))
    return undispatched == 0 and not any(row["status"] == "pending" for row in _notifications())


def _text(mail: EmailMessage) -> str:
    """The message's text as written (SMTP carries its lines with CRLF)."""
    return str(mail.get_content()).replace("\r\n", "\n")


def _link_in(body: str) -> str:
    [link] = re.findall(r"https?://\S+", body)
    return str(link)


def _token_for(api: ApiClient, user: dict[str, Any]) -> dict[str, str]:
    issued = api.post(f"/api/v1/users/{user['id']}/tokens", json={"name": "laptop"})
    assert issued.status_code == 201, issued.text
    return {"Authorization": f"Bearer {issued.json()['token']}"}


def test_a_new_task_mails_its_owner_the_customers_words_and_the_link_to_its_page(
    mailroom: Mailroom,
) -> None:
    api, inbox = mailroom.api, mailroom.inbox
    task = _detractor_task(api, "MAIL-1")

    [mail] = wait_until(lambda: inbox.to("olivia@example.org"))

    assert mail["From"] == "Aftercare <aftercare@localhost>"
    assert mail["Subject"] == f"New follow-up task #{task['id']} for you: Robin, “Broken router”"
    body = _text(mail)
    assert "  The router died twice this week.\n  Nobody called back." in body
    assert "Answers: NPS 2, CSAT 1" in body and "Case: MAIL-1" in body
    link = _link_in(body)
    assert link == f"{PUBLIC_URL}/tasks/{task['id']}"
    # The link names this task: behind its id are the same customer's words.
    linked_id = int(urlsplit(link).path.removeprefix("/tasks/"))
    assert api.get(f"/api/v1/tasks/{linked_id}").json()["answers"]["comment"] == COMPLAINT
    [row] = wait_until(lambda: _settled("sent"))
    created = run(TaskEvent.select(TaskEvent.id).where(TaskEvent.task == task["id"]).first())
    assert row["key"] == f"task:{task['id']}:event:{created['id']}:to:olivia@example.org"
    assert (row["kind"], row["attempts"], row["last_error"]) == ("assigned", 1, "")
    assert row["subject"] == mail["Subject"] and row["sent_at"] is not None


def test_every_new_owner_is_mailed_but_not_someone_who_takes_a_task_themselves(
    mailroom: Mailroom,
) -> None:
    api, inbox, owners = mailroom.api, mailroom.inbox, mailroom.owners
    task = _detractor_task(api, "MAIL-2")
    wait_until(lambda: inbox.to("olivia@example.org"))

    moved = api.patch(f"/api/v1/tasks/{task['id']}", json={"owner_id": owners["oscar"]["id"]})
    assert moved.status_code == 200, moved.text
    [given] = wait_until(lambda: inbox.to("oscar@example.org"))
    assert given["Subject"] == f"Follow-up task #{task['id']} is now yours: Robin, “Broken router”"
    assert "admin token gave you this follow-up task." in _text(given)
    assert _link_in(_text(given)) == f"{PUBLIC_URL}/tasks/{task['id']}"

    # Olivia takes it back herself: she needs no mail about it.
    mine = _token_for(api, owners["olivia"])
    assert api.http.post(f"/api/v1/tasks/{task['id']}/claim", headers=mine).status_code == 200
    # Then she goes away, and the task moves on to Oscar again, with the reason.
    away = api.patch(
        f"/api/v1/owners/{owners['olivia']['id']}", json={"away_until": "2099-01-01T00:00:00Z"}
    )
    assert away.status_code == 200, away.text
    handed_on = wait_until(lambda: inbox.to("oscar@example.org")[1:])

    assert "(owner away until 2099-01-01T00:00:00+00:00)" in _text(handed_on[0])
    wait_until(_all_settled)
    assert len(inbox.to("olivia@example.org")) == 1
    assert [row["recipient"] for row in _notifications()] == [
        "olivia@example.org",
        "oscar@example.org",
        "oscar@example.org",
    ]


def test_a_redelivered_or_repeated_notification_sends_nothing_twice(mailroom: Mailroom) -> None:
    api, inbox = mailroom.api, mailroom.inbox
    _detractor_task(api, "MAIL-3")
    [row] = wait_until(lambda: _settled("sent"))
    outbox_rows = run(OutboxMessage.count())

    # The broker delivers the same message again...
    actors = api.http.app.state.actors
    actors.send_mail.send(notification_id=row["id"])
    actors.broker.join(actors.send_mail.queue_name, timeout=30_000)
    # ...a worker delivers it straight to the mail server...
    server = SmtpServer(host="127.0.0.1", port=mailroom.port, security="plain")
    channel = SmtpMail(server, "Aftercare <aftercare@localhost>")
    again = deliver_notification(
        row["id"], channel, public_url=PUBLIC_URL, max_attempts=3, clock=FixedClock(row["sent_at"])
    )
    assert run(again) == "sent"

    # ...and the event's notice is recorded again.
    async def record_again() -> int | None:
        async with write_transaction():
            return await add_notification(
                key=row["key"],
                kind="assigned",
                recipient=row["recipient"],
                task_id=row["task"],
                data={},
                now=row["created_at"],
            )

    assert run(record_again()) is None
    assert len(inbox.messages) == 1
    assert [(r["id"], r["status"], r["attempts"]) for r in _notifications()] == [
        (row["id"], "sent", 1)
    ]
    assert run(OutboxMessage.count()) == outbox_rows


def test_while_the_mail_server_is_down_a_message_is_tried_again_then_failed_with_the_reason(
    db: None, clock: FixedClock
) -> None:
    port = free_port()
    settings = settings_with(
        smtp_url=f"smtp://127.0.0.1:{port}", mail_max_attempts=3, mail_retry_seconds=0.05
    )
    with api_client(settings, clock) as api:
        _owner_setup(api)
        _detractor_task(api, "DOWN-1")

        [row] = wait_until(lambda: _settled("failed"))

    assert row["attempts"] == 3 and row["sent_at"] is None
    assert f"mail server 127.0.0.1:{port}" in row["last_error"]
    assert row["last_error"].endswith("(3 attempts)")


def test_a_message_tried_while_the_server_was_down_is_sent_once_it_is_back(
    db: None, clock: FixedClock
) -> None:
    port = free_port()
    settings = settings_with(
        smtp_url=f"smtp://127.0.0.1:{port}", mail_max_attempts=50, mail_retry_seconds=0.05
    )
    with api_client(settings, clock) as api:
        _owner_setup(api)
        task = _detractor_task(api, "DOWN-2")
        [tried] = wait_until(lambda: [r for r in _notifications() if r["attempts"] >= 2])
        assert tried["status"] == "pending" and "127.0.0.1" in tried["last_error"]

        with running_smtp_server(port) as inbox:
            [mail] = wait_until(lambda: inbox.to("olivia@example.org"))
            [row] = wait_until(lambda: _settled("sent"))

    assert _link_in(_text(mail)) == f"{TEST_SETTINGS.public_url}/tasks/{task['id']}"
    assert row["attempts"] > tried["attempts"] and row["last_error"] == ""
    assert len(inbox.messages) == 1


def test_a_recipient_the_server_refuses_fails_at_once_without_retries(
    db: None, clock: FixedClock
) -> None:
    port = free_port()
    settings = settings_with(smtp_url=f"smtp://127.0.0.1:{port}", mail_retry_seconds=0.05)
    with (
        running_smtp_server(port, refuse=frozenset({"olivia@example.org"})) as inbox,
        api_client(settings, clock) as api,
    ):
        _owner_setup(api)
        _detractor_task(api, "REFUSED-1")

        [row] = wait_until(lambda: _settled("failed"))

    assert row["attempts"] == 1 and inbox.messages == []
    assert row["last_error"].startswith("recipient refused: olivia@example.org: 550")


def test_without_a_mail_server_messages_are_kept_and_only_admins_list_them(
    db: None, clock: FixedClock
) -> None:
    assert TEST_SETTINGS.smtp_url == ""
    with api_client(TEST_SETTINGS, clock) as api:
        olivia = _owner_setup(api)
        task = _detractor_task(api, "KEPT-1")
        wait_until(lambda: _settled("kept"))
        _detractor_task(api, "KEPT-2", comment="Second time.")
        wait_until(lambda: _settled("kept", count=2))

        page = api.get("/api/v1/mail")
        second_page = api.get("/api/v1/mail", params={"limit": 1, "offset": 1})
        refused = api.http.get("/api/v1/mail", headers=_token_for(api, olivia))
        admin = {"email": "ada@example.org", "name": "Ada", "role": "admin"}
        assert api.post("/api/v1/users", json=admin).status_code == 201
        give_everyone_the_password()
        link = _link_in(page.json()["items"][-1]["text_body"])
        signed_in(api.http, "olivia@example.org")
        olivia_follows = api.http.get(urlsplit(link).path)
        olivia_mail_page = api.http.get("/admin/mail")
        api.http.post("/logout", data={"_csrf_token": csrf_token(api.http, "/inbox")})
        signed_in(api.http, "ada@example.org")
        admin_mail_page = api.http.get("/admin/mail")
        admin_mail_first = api.http.get("/admin/mail", params={"limit": 1})

    assert page.status_code == 200, page.text
    body = page.json()
    assert (body["total"], body["limit"], body["offset"]) == (2, 50, 0)
    newest, oldest = body["items"]
    assert "Second time." in newest["text_body"]
    assert oldest["status"] == "kept" and oldest["sent_at"] is None
    assert oldest["recipient"] == "olivia@example.org" and oldest["task_id"] == task["id"]
    assert _link_in(oldest["text_body"]) == f"{TEST_SETTINGS.public_url}/tasks/{task['id']}"
    assert [item["id"] for item in second_page.json()["items"]] == [oldest["id"]]
    assert refused.status_code == 403
    # The owner follows the link to the task's page; the admins' mail page lists the mail.
    assert olivia_follows.status_code == 200 and "KEPT-1" in olivia_follows.text
    assert olivia_mail_page.status_code == 403
    assert admin_mail_page.status_code == 200, admin_mail_page.text
    assert newest["subject"] in admin_mail_page.text and "Second time." in admin_mail_page.text
    assert '<a href="?offset=1&amp;limit=1">Older</a>' in admin_mail_first.text
    assert oldest["subject"] not in admin_mail_first.text


def test_a_message_lost_on_its_way_to_the_mail_worker_is_asked_for_again(
    db: None, clock: FixedClock
) -> None:
    settings = settings_with(mail_retry_seconds=0.05)
    stale_after = stale_mail_after(settings.mail_retry_seconds)
    with api_client(settings, clock) as api:
        olivia = _owner_setup(api)
        task = _detractor_task(api, "LOST-1")
        wait_until(lambda: _settled("kept"))

        async def record_and_lose() -> int | None:
            async with write_transaction():
                digest = await add_notification(
                    key=f"digest:2026-12-01:{olivia['id']}",
                    kind="digest",
                    recipient=olivia["email"],
                    task_id=None,
                    data={"task_ids": [task["id"]], "recipient_name": "Olivia"},
                    now=clock(),
                )
                # The relay took its message, and the broker lost it.
                await OutboxMessage.update({OutboxMessage.dispatched_at: clock()}).where(
                    OutboxMessage.dispatched_at.is_null()
                )
            return digest

        lost = run(record_and_lose())
        time.sleep(1.5)  # housekeeping rounds pass; nothing asks for it yet
        assert [row["status"] for row in _notifications() if row["id"] == lost] == ["pending"]
        clock.advance(seconds=stale_after.total_seconds() + 1)

        rows = wait_until(lambda: _settled("kept", count=2))

    [digest] = [row for row in rows if row["id"] == lost]
    assert digest["attempts"] == 1 and digest["subject"] == "Your overdue follow-up tasks: 1"


def test_the_smtp_url_names_the_server_its_security_and_login() -> None:
    assert smtp_server("smtp://mail.example.com") == SmtpServer(
        host="mail.example.com", port=25, security="plain"
    )
    assert smtp_server("smtps://mail.example.com") == SmtpServer(
        host="mail.example.com", port=465, security="tls"
    )
    assert smtp_server("smtp+starttls://ops%40example.com:p%3Ass@mail.example.com:2525") == (
        SmtpServer(
            host="mail.example.com",
            port=2525,
            security="starttls",
            user="ops@example.com",
            password="p:ss",
        )
    )
    assert mail_channel("", "Aftercare <a@example.com>") is None
    for bad in ("http://mail.example.com", "smtp://", "smtp://host:99999"):
        with pytest.raises(SettingsError):
            smtp_server(bad)
    with pytest.raises(SettingsError):
        mail_channel("smtp://mail.example.com", "nobody")
    # Read from the environment, a bad one stops the process at start-up.
    with pytest.raises(SettingsError, match="AFTERCARE_SMTP_URL"):
        load_settings({"AFTERCARE_SMTP_URL": "mail.example.com:25"})
    assert load_settings({"AFTERCARE_SMTP_URL": "smtps://mail.example.com"}).smtp_url
