"""Piccolo tables: one per noun of the feedback loop.

Unique constraints and foreign keys live in each table's first migration, because SQLite cannot
add them later (see STACK-NOTES). Timestamps are always written from the injected clock.
"""

from __future__ import annotations

from piccolo.columns import (
    JSON,
    Boolean,
    Bytea,
    ForeignKey,
    Integer,
    Real,
    Serial,
    SmallInt,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.table import Table


class Team(Table):
    id: Serial
    slug = Varchar(length=64, unique=True)
    name = Varchar(length=200)
    created_at = Timestamptz()


class Owner(Table):
    """A person who works in Aftercare: an owner of follow-ups, or a lead, viewer or admin
    (`role`, accounts.Role). The table kept the name of its first kind of user."""

    id: Serial
    email = Varchar(length=320, unique=True)
    name = Varchar(length=200)
    # Legacy: the one team of the time before memberships (TeamMembership), copied into them by
    # the memberships migration. Nothing reads or writes it; SQLite cannot drop an FK column.
    team = ForeignKey(Team, null=True, on_delete=OnDelete.set_null)
    role = Varchar(length=16, default="owner")
    # argon2id; empty until a password is set (then the person cannot sign in on the web).
    password_hash = Varchar(length=255, default="")
    # Deactivated owners keep their history but get no new tasks; neither do owners away until
    # a later time. Either way their open tasks move to the team's other owners.
    active = Boolean(default=True)
    away_until = Timestamptz(null=True, default=None)
    created_at = Timestamptz()


class TeamMembership(Table):
    """A person in a team: a person may be in several teams, a team has several people."""

    id: Serial
    # "<owner id>:<team id>": one row per pair (Piccolo has no unique over two columns).
    key = Varchar(length=32, unique=True)
    owner = ForeignKey(Owner, null=False, on_delete=OnDelete.cascade, index=True)
    team = ForeignKey(Team, null=False, on_delete=OnDelete.cascade, index=True)
    created_at = Timestamptz()


class ApiToken(Table):
    """A personal API token: only its SHA-256 is kept; the token itself is shown once."""

    id: Serial
    owner = ForeignKey(Owner, null=False, on_delete=OnDelete.cascade, index=True)
    name = Varchar(length=100)
    # The first characters, so people can tell their tokens apart in a list.
    prefix = Varchar(length=16)
    token_hash = Varchar(length=64, unique=True)
    created_at = Timestamptz()
    last_used_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)


class WebSession(Table):
    """A signed-in browser session, shared by every API process; the key is the SHA-256 of the
    session cookie, so the table alone signs no one in."""

    id: Serial
    key = Varchar(length=64, unique=True)
    value = Bytea()
    expires_at = Timestamptz(index=True)


class SignInFailure(Table):
    """A failed sign-in, counted against the account and, in a second row, the client address."""

    id: Serial
    # "account:<email>" or "ip:<address>"
    key = Varchar(length=400, index=True)
    at = Timestamptz(index=True)


class Customer(Table):
    id: Serial
    email = Varchar(length=320, unique=True)
    name = Varchar(length=200)
    locale = Varchar(length=35, default="en")
    created_at = Timestamptz()


class SupportCase(Table):
    id: Serial
    external_id = Varchar(length=200, unique=True)
    subject = Varchar(length=500)
    customer = ForeignKey(Customer, null=False, on_delete=OnDelete.restrict)
    team = ForeignKey(Team, null=True, on_delete=OnDelete.set_null)
    # The team name exactly as the helpdesk sent it, kept even when no Team matches.
    team_key = Varchar(length=64)
    agent = Varchar(length=200)
    closed_at = Timestamptz()
    created_at = Timestamptz()


class Survey(Table):
    """A survey definition: its questions are data, so later surveys need no schema change."""

    id: Serial
    slug = Varchar(length=64, unique=True)
    version = Integer(default=1)
    title = Varchar(length=200)
    questions = JSON()
    created_at = Timestamptz()


class Invitation(Table):
    id: Serial
    support_case = ForeignKey(SupportCase, null=False, unique=True, on_delete=OnDelete.cascade)
    survey = ForeignKey(Survey, null=False, on_delete=OnDelete.restrict)
    token = Varchar(length=64, unique=True)
    created_at = Timestamptz()
    expires_at = Timestamptz(null=True, default=None)
    answered_at = Timestamptz(null=True, default=None)


class SurveyResponse(Table):
    id: Serial
    invitation = ForeignKey(Invitation, null=False, unique=True, on_delete=OnDelete.cascade)
    support_case = ForeignKey(SupportCase, null=False, on_delete=OnDelete.cascade, index=True)
    nps = SmallInt(null=True, default=None)
    csat = SmallInt(null=True, default=None)
    comment = Text()
    # Every answer keyed by question, so surveys with other questions fit the same row.
    answers = JSON()
    submitted_at = Timestamptz(index=True)
    # pending -> analysed, or failed (the model raised on this text alone, or no worker
    # finished it in the allowed attempts): then the scores alone decide.
    status = Varchar(length=16, default="pending", index=True)
    analysis_requested_at = Timestamptz()
    # How many times a worker started analysing it (requests nobody took do not count). New
    # responses are written with 0; the column's default stays 1 because SQLite cannot alter it.
    analysis_attempts = Integer(default=1)


class Analysis(Table):
    id: Serial
    response = ForeignKey(SurveyResponse, null=False, unique=True, on_delete=OnDelete.cascade)
    sentiment_label = Varchar(length=16, null=True, default=None)
    sentiment_score = Real(null=True, default=None)
    model_version = Varchar(length=64)
    is_negative = Boolean(default=False)
    negative_reasons = JSON()
    # ISO 639-1 code of the comment ("und" when unknown); sentiment is only judged in
    # languages the model supports, otherwise the scores alone decide.
    language = Varchar(length=8, default="")
    # Per-sentence and per-topic results land here as the NLP grows.
    details = JSON()
    # Why the analysis failed (the response's status is then "failed"); empty otherwise.
    failure_reason = Text(default="")
    analysed_at = Timestamptz()


class FollowUpTask(Table):
    id: Serial
    # One task per response; a later join table lets one task gather several responses.
    response = ForeignKey(SurveyResponse, null=False, unique=True, on_delete=OnDelete.cascade)
    support_case = ForeignKey(SupportCase, null=False, on_delete=OnDelete.cascade)
    team = ForeignKey(Team, null=True, on_delete=OnDelete.set_null)
    owner = ForeignKey(Owner, null=True, on_delete=OnDelete.set_null, index=True)
    status = Varchar(length=32, default="open", index=True)
    # P1 | P2 | P3 (tasks.TaskPriority); rows from before priorities were migrated to P2. The
    # column's default stays "normal" because SQLite cannot alter it: inserts always set it.
    priority = Varchar(length=16, default="normal")
    reasons = JSON()
    due_at = Timestamptz()
    created_at = Timestamptz()
    updated_at = Timestamptz()
    resolved_at = Timestamptz(null=True, default=None)
    # A key of RootCause, required to resolve; the note says what was done (or, when the task
    # is not resolvable, what the customer was told).
    root_cause = Varchar(length=64, default="")
    resolution_note = Text(default="")
    first_contacted_at = Timestamptz(null=True, default=None)
    # When the overdue job found it past due and unresolved (once: its lead is told then).
    overdue_at = Timestamptz(null=True, default=None)


class TaskEvent(Table):
    """The history of a task: every change is an event, from its creation on."""

    id: Serial
    task = ForeignKey(FollowUpTask, null=False, on_delete=OnDelete.cascade, index=True)
    kind = Varchar(length=32)
    actor = Varchar(length=320)
    data = JSON()
    at = Timestamptz()


class RootCause(Table):
    """Why a complaint happened: the configurable list a resolved task must name one of."""

    id: Serial
    key = Varchar(length=64, unique=True)
    name = Varchar(length=200)
    active = Boolean(default=True)
    position = Integer(default=0)
    created_at = Timestamptz()


class OutboxMessage(Table):
    """Work for the broker, written in the same transaction as the change that causes it."""

    id: Serial
    kind = Varchar(length=64)
    payload = JSON()
    created_at = Timestamptz()
    dispatched_at = Timestamptz(null=True, default=None, index=True)


class Notification(Table):
    """A message to one person about a task (an assignment, an overdue task) or their morning
    digest: at most one per key, written in the transaction of what causes it and delivered by
    the send_mail actor (notifications.deliver_notification)."""

    id: Serial
    # task:{id}:event:{event id}:to:{email}, or digest:{yyyy-mm-dd}:{owner id}
    key = Varchar(length=500, unique=True)
    # assigned | overdue | digest (notifications.NoticeKind)
    kind = Varchar(length=32)
    channel = Varchar(length=16, default="mail")
    recipient = Varchar(length=320)
    task = ForeignKey(FollowUpTask, null=True, on_delete=OnDelete.set_null, index=True)
    # What the message is about (the event, the digest's tasks); it is written out on delivery.
    data = JSON()
    subject = Varchar(length=300)
    text_body = Text()
    html_body = Text(default="")
    # pending -> kept (no mail server configured) | sent | failed (with last_error)
    status = Varchar(length=16, default="pending", index=True)
    attempts = Integer(default=0)
    last_error = Text(default="")
    created_at = Timestamptz(index=True)
    # When its delivery was last asked for or tried: a pending one long after is asked again.
    requested_at = Timestamptz()
    sent_at = Timestamptz(null=True, default=None)


class ScheduledJob(Table):
    """A periodic job: the process whose conditional update moves `next_run_at` on runs it."""

    id: Serial
    name = Varchar(length=64, unique=True)
    next_run_at = Timestamptz()
    claimed_by = Varchar(length=200)
    claimed_at = Timestamptz(null=True, default=None)


class Topic(Table):
    """A named topic of the taxonomy; its example phrases are what sentences are matched to."""

    id: Serial
    key = Varchar(length=64, unique=True)
    name = Varchar(length=200)
    description = Text()
    examples = JSON()
    active = Boolean(default=True)
    # default (seeded), custom (made by a lead) or discovered (promoted from a theme)
    source = Varchar(length=16, default="custom")
    created_at = Timestamptz()
    updated_at = Timestamptz()


class CommentSentence(Table):
    """One sentence of a comment with its sentiment, topics and embedding (stored once)."""

    id: Serial
    # "<response id>:<position>": one row per sentence, so re-delivery and re-analysis upsert.
    key = Varchar(length=64, unique=True)
    response = ForeignKey(SurveyResponse, null=False, on_delete=OnDelete.cascade, index=True)
    position = Integer()
    text = Text()
    sentiment_label = Varchar(length=16, null=True, default=None)
    sentiment_score = Real(null=True, default=None)
    topics = JSON()
    embedding = Bytea()
    model_version = Varchar(length=64)
    analysed_at = Timestamptz(index=True)


class SentenceTopic(Table):
    """A topic found in one sentence, with that sentence's sentiment: topics as rows, so that
    filters and reports aggregate in SQL instead of reading JSON."""

    id: Serial
    # "<response id>:<position>:<topic key>": re-analysis replaces, never duplicates.
    key = Varchar(length=200, unique=True)
    response = ForeignKey(SurveyResponse, null=False, on_delete=OnDelete.cascade, index=True)
    sentence = ForeignKey(CommentSentence, null=False, on_delete=OnDelete.cascade)
    position = Integer()
    topic = Varchar(length=64, index=True)
    # How close the sentence is to the topic (the model's similarity score).
    score = Real()
    sentiment_label = Varchar(length=16, null=True, default=None)
    analysed_at = Timestamptz(index=True)


class DiscoveryRun(Table):
    """One run of the theme discovery job over recent sentences."""

    id: Serial
    started_at = Timestamptz()
    finished_at = Timestamptz(null=True, default=None)
    since = Timestamptz()
    sentences = Integer(default=0)
    themes = Integer(default=0)


class DiscoveredTheme(Table):
    id: Serial
    run = ForeignKey(DiscoveryRun, null=False, on_delete=OnDelete.cascade, index=True)
    label = Varchar(length=200)
    terms = JSON()
    size = Integer()
    representatives = JSON()
    promoted_topic = ForeignKey(Topic, null=True, on_delete=OnDelete.set_null)
    created_at = Timestamptz()


# Parents before children: the order migrations create and tests empty them in.
ALL_TABLES: list[type[Table]] = [
    Team,
    Owner,
    TeamMembership,
    ApiToken,
    WebSession,
    SignInFailure,
    Customer,
    SupportCase,
    Survey,
    Invitation,
    SurveyResponse,
    Analysis,
    FollowUpTask,
    TaskEvent,
    RootCause,
    OutboxMessage,
    Notification,
    ScheduledJob,
    Topic,
    CommentSentence,
    SentenceTopic,
    DiscoveryRun,
    DiscoveredTheme,
]
