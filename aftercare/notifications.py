"""Notifications: what to tell whom about a follow-up task, at most once, and delivering it.

A notification is a row with a unique key (one per task event and recipient, or one digest per
owner and day), written in the transaction of the change that causes it together with an
outbox message for the send_mail actor. Delivery writes the message out from the task, hands
it to a channel and records the outcome; every channel keeps one contract: `notify` returns, or
raises a DeliveryError that says whether trying again could help. Mail is the first channel;
with no mail server configured a message is only kept (status `kept`, listed for admins).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, Protocol

import msgspec

from aftercare.clock import Clock
from aftercare.db import write_transaction
from aftercare.outbox import add_message
from aftercare.tables import FollowUpTask, Notification, Owner

SEND_MAIL = "send_mail"
NoticeKind = Literal["assigned", "overdue", "digest"]
NoticeStatus = Literal["pending", "kept", "sent", "failed"]
# The task events that give a task a new owner, and where their data names that owner.
_NEW_OWNER_FIELD = {"created": "owner_id", "owner_id_changed": "after"}
# Between tries, the sender waits the first wait (AFTERCARE_MAIL_RETRY_SECONDS) doubled each
# time, at most this many times over.
MAX_BACKOFF_FACTOR = 64


class OutgoingMail(msgspec.Struct, frozen=True, kw_only=True):
    """One message as a channel sends it."""

    # Stable across attempts (a Message-ID's left part), so a repeat can be recognised.
    reference: str
    recipient: str
    subject: str
    text_body: str
    html_body: str = ""
    date: dt.datetime


class DeliveryError(Exception):
    """A channel could not deliver; `permanent` when trying again cannot help (5xx refusals)."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class MailChannel(Protocol):
    """Delivers a message, or raises DeliveryError."""

    async def notify(self, mail: OutgoingMail) -> None: ...


class NotDeliveredYet(Exception):
    """Delivery failed in a way that may pass: the caller should try again later."""


class MailView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    key: str
    kind: str
    channel: str
    recipient: str
    task_id: int | None
    subject: str
    text_body: str
    html_body: str
    status: str
    attempts: int
    last_error: str
    created_at: dt.datetime
    sent_at: dt.datetime | None


class MailPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[MailView]
    total: int
    limit: int
    offset: int


def task_link(public_url: str, task_id: int) -> str:
    """Where a person opens a task: its page."""
    return f"{public_url.rstrip('/')}/tasks/{task_id}"


def new_owner_of(kind: str, data: dict[str, Any]) -> int | None:
    """The owner a task event gives the task (creation, reassignment), else None."""
    field = _NEW_OWNER_FIELD.get(kind)
    owner_id = data.get(field) if field else None
    return int(owner_id) if owner_id is not None else None


async def notify_new_owner(
    task_id: int,
    event_id: int,
    owner_id: int,
    *,
    event_kind: str,
    by: str,
    reason: str,
    now: dt.datetime,
) -> int | None:
    """Tell a task's new owner it is theirs; call in the transaction of the event that made it
    so. Returns the notification's id, None when this event already has one."""
    owner = await Owner.select(Owner.email, Owner.name).where(Owner.id == owner_id).first()
    if owner is None:
        return None
    return await add_notification(
        key=f"task:{task_id}:event:{event_id}:to:{owner['email']}",
        kind="assigned",
        recipient=owner["email"],
        task_id=task_id,
        data={
            "event_id": event_id,
            "event": event_kind,
            "by": by,
            "reason": reason,
            "recipient_name": owner["name"],
        },
        now=now,
    )


async def add_notification(
    *,
    key: str,
    kind: NoticeKind,
    recipient: str,
    task_id: int | None,
    data: dict[str, Any],
    now: dt.datetime,
) -> int | None:
    """Record a notification and queue its delivery, unless its key exists (then None); call
    inside the transaction of what causes it."""
    inserted = (
        await Notification.insert(
            Notification(
                key=key,
                kind=kind,
                recipient=recipient,
                task=task_id,
                data=msgspec.json.encode(data).decode(),
                subject="",
                text_body="",
                created_at=now,
                requested_at=now,
            )
        )
        .on_conflict(target=Notification.key, action="DO NOTHING")
        .returning(Notification.id)
    )
    if not inserted:
        return None
    notification_id = int(inserted[0]["id"])
    await add_message(SEND_MAIL, {"notification_id": notification_id}, now)
    return notification_id


async def deliver_notification(
    notification_id: int,
    channel: MailChannel | None,
    *,
    public_url: str,
    max_attempts: int,
    clock: Clock,
) -> NoticeStatus | None:
    """Write the notification out and hand it to `channel` (None: only keep it), once.

    Returns its status, or None when it is unknown or another delivery of it is under way.
    A notification already kept, sent or failed is left alone, so a redelivered message sends
    nothing twice. A failure that may pass raises NotDeliveredYet until `max_attempts`; a
    permanent one, or the last attempt, marks it failed with the reason.
    """
    row = (
        await Notification.select(
            Notification.id,
            Notification.kind,
            Notification.recipient,
            Notification.task,
            Notification.data,
            Notification.status,
            Notification.attempts,
        )
        .where(Notification.id == notification_id)
        .first()
    )
    if row is None or row["status"] != "pending":
        return row["status"] if row else None
    now = clock()
    mail = await _write_out(row, public_url, now)
    attempt = row["attempts"] + 1
    async with write_transaction():
        # Claimed where the attempt count is still the one read: of two deliveries at once,
        # one goes ahead.
        claimed = (
            await Notification.update(
                {
                    Notification.attempts: attempt,
                    Notification.requested_at: now,
                    Notification.subject: mail.subject,
                    Notification.text_body: mail.text_body,
                    Notification.html_body: mail.html_body,
                }
            )
            .where(
                Notification.id == notification_id,
                Notification.status == "pending",
                Notification.attempts == row["attempts"],
            )
            .returning(Notification.id)
        )
    if not claimed:
        return None
    if channel is None:
        return await _record_outcome(notification_id, "kept", sent_at=None)
    try:
        await channel.notify(mail)
    except DeliveryError as error:
        if error.permanent or attempt >= max_attempts:
            reason = error.reason if error.permanent else f"{error.reason} ({attempt} attempts)"
            return await _record_outcome(notification_id, "failed", sent_at=None, error=reason)
        await _record_outcome(notification_id, "pending", sent_at=None, error=error.reason)
        raise NotDeliveredYet(f"notification {notification_id}: {error.reason}") from error
    return await _record_outcome(notification_id, "sent", sent_at=clock())


def stale_mail_after(retry_seconds: float) -> dt.timedelta:
    """Twice the sender's longest wait: a notification pending this long since it was last
    asked for or tried has no retry on its way."""
    return dt.timedelta(seconds=retry_seconds * MAX_BACKOFF_FACTOR * 2)


async def request_stale_notifications(*, now: dt.datetime, stale_after: dt.timedelta) -> int:
    """Queue delivery again for notifications still pending `stale_after` after they were last
    asked for or tried (a message lost on its way, retries spent while the database was down);
    returns how many."""
    stale = (
        await Notification.select(Notification.id)
        .where(Notification.status == "pending", Notification.requested_at < now - stale_after)
        .order_by(Notification.id)
        .limit(500)
    )
    if not stale:
        return 0
    async with write_transaction():
        requested = (
            await Notification.update({Notification.requested_at: now})
            .where(
                Notification.id.is_in([row["id"] for row in stale]),
                Notification.status == "pending",
                Notification.requested_at < now - stale_after,
            )
            .returning(Notification.id)
        )
        for row in requested:
            await add_message(SEND_MAIL, {"notification_id": row["id"]}, now)
    return len(requested)


async def _record_outcome(
    notification_id: int, status: NoticeStatus, *, sent_at: dt.datetime | None, error: str = ""
) -> NoticeStatus:
    async with write_transaction():
        await Notification.update(
            {
                Notification.status: status,
                Notification.sent_at: sent_at,
                Notification.last_error: error,
            }
        ).where(Notification.id == notification_id, Notification.status == "pending")
    return status


async def list_mail(*, limit: int = 50, offset: int = 0) -> MailPage:
    """Every notification, newest first: kept, sent, failed, or pending (written out at its
    first try, so a pending one may have no subject yet)."""
    rows = (
        await Notification.select(
            *Notification.all_columns(
                exclude=[Notification.task, Notification.data, Notification.requested_at]
            ),
            Notification.task.as_alias("task_id"),
        )
        .order_by(Notification.created_at, ascending=False)
        .order_by(Notification.id, ascending=False)
        .limit(limit)
        .offset(offset)
    )
    return MailPage(
        items=msgspec.convert(rows, list[MailView]),
        total=await Notification.count(),
        limit=limit,
        offset=offset,
    )


# What a message says about a task, read when it is written out.
_TASK_FACTS = (
    FollowUpTask.id,
    FollowUpTask.status,
    FollowUpTask.priority,
    FollowUpTask.reasons,
    FollowUpTask.due_at,
    FollowUpTask.owner.name.as_alias("owner_name"),
    FollowUpTask.owner.email.as_alias("owner_email"),
    FollowUpTask.team.name.as_alias("team_name"),
    FollowUpTask.support_case.external_id.as_alias("case_external_id"),
    FollowUpTask.support_case.subject.as_alias("case_subject"),
    FollowUpTask.support_case.customer.name.as_alias("customer_name"),
    FollowUpTask.support_case.customer.email.as_alias("customer_email"),
    FollowUpTask.response.nps.as_alias("nps"),
    FollowUpTask.response.csat.as_alias("csat"),
    FollowUpTask.response.comment.as_alias("comment"),
)


async def _tasks_facts(task_ids: list[int]) -> dict[int, dict[str, Any]]:
    if not task_ids:
        return {}
    rows = await FollowUpTask.select(*_TASK_FACTS).where(FollowUpTask.id.is_in(task_ids))
    return {row["id"]: row for row in rows}


async def _write_out(row: dict[str, Any], public_url: str, now: dt.datetime) -> OutgoingMail:
    """The message a notification row stands for, from the task(s) as they are now."""
    data = msgspec.json.decode(row["data"])
    if row["kind"] == "digest":
        tasks = await _tasks_facts(data["task_ids"])
        listed = [tasks[task_id] for task_id in data["task_ids"] if task_id in tasks]
        subject, body = _digest(data, listed, public_url)
    else:
        task = (await _tasks_facts([row["task"]] if row["task"] else [])).get(row["task"])
        if task is None:
            subject, body = "A follow-up task was removed", "The task no longer exists.\n"
        elif row["kind"] == "overdue":
            subject, body = _overdue(data, task, public_url)
        else:
            subject, body = _assigned(data, task, public_url)
    return OutgoingMail(
        reference=f"aftercare.notification.{row['id']}",
        recipient=row["recipient"],
        subject=subject,
        text_body=body,
        date=now,
    )


def _assigned(data: dict[str, Any], task: dict[str, Any], public_url: str) -> tuple[str, str]:
    about = _about(task)
    if data["event"] == "created":
        subject = f"New follow-up task #{task['id']} for you: {about}"
        why = "A customer's answers opened a follow-up task, and it is yours."
    else:
        subject = f"Follow-up task #{task['id']} is now yours: {about}"
        reason = f" ({data['reason']})" if data.get("reason") else ""
        why = f"{data['by']} gave you this follow-up task{reason}."
    body = (
        f"{_greeting(data)}\n\n{why}\n\n{_customer_said(task)}\n"
        f"Priority {task['priority']}, due {_when(task['due_at'])}.\n\n"
        f"Open the task: {task_link(public_url, task['id'])}\n"
    )
    return subject, body


def _overdue(data: dict[str, Any], task: dict[str, Any], public_url: str) -> tuple[str, str]:
    owner = (
        f"Its owner is {_person(task['owner_name'], task['owner_email'])}."
        if task["owner_email"]
        else "It has no owner."
    )
    team = f" of team {task['team_name']}" if task["team_name"] else ""
    body = (
        f"{_greeting(data)}\n\nFollow-up task #{task['id']}{team} passed its deadline "
        f"({_when(task['due_at'])}) unresolved. {owner}\n\n{_customer_said(task)}\n"
        f"Open the task: {task_link(public_url, task['id'])}\n"
    )
    return f"Overdue: follow-up task #{task['id']}, {_about(task)}", body


def _digest(data: dict[str, Any], tasks: list[dict[str, Any]], public_url: str) -> tuple[str, str]:
    lines = [
        f"- #{task['id']} {_about(task)}: due {_when(task['due_at'])}, {task['priority']}\n"
        f"  {task_link(public_url, task['id'])}"
        for task in tasks
    ]
    body = (
        f"{_greeting(data)}\n\nThese follow-up tasks of yours are past their deadline:\n\n"
        + "\n".join(lines)
        + "\n"
    )
    return f"Your overdue follow-up tasks: {len(tasks)}", body


def _greeting(data: dict[str, Any]) -> str:
    name = data.get("recipient_name") or ""
    return f"Hello {name}," if name else "Hello,"


def _about(task: dict[str, Any]) -> str:
    return f"{task['customer_name'] or task['customer_email']}, “{task['case_subject']}”"


def _customer_said(task: dict[str, Any]) -> str:
    scores = ", ".join(
        f"{name} {task[field]}"
        for name, field in (("NPS", "nps"), ("CSAT", "csat"))
        if task[field] is not None
    )
    comment = task["comment"].strip()
    words = "\n".join(f"  {line}" for line in comment.splitlines()) if comment else "  (no comment)"
    reasons = "; ".join(msgspec.json.decode(task["reasons"]))
    return (
        f"Customer: {_person(task['customer_name'], task['customer_email'])}\n"
        f"Case: {task['case_external_id']}, “{task['case_subject']}”\n"
        f"Answers: {scores or 'none'}\n"
        f"What they wrote:\n{words}\n"
        f"Why it needs a follow-up: {reasons}\n"
    )


def _person(name: str, email: str) -> str:
    return f"{name} <{email}>" if name else email


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
