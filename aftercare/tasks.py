"""Follow-up tasks: a customer's negative answers gather on one open task, routed to an owner,
with a deadline."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import msgspec
from piccolo.query.functions.aggregate import Count

from aftercare.db import locking_rows
from aftercare.errors import InvalidInput, NotFound
from aftercare.notifications import new_owner_of, notify_new_owner
from aftercare.responses import (
    RESPONSE_ATTACHED,
    CommentReading,
    ResponseAttached,
    comment_reading,
    follow_up_task_of,
)
from aftercare.routing import OPEN_STATUSES, choose_assignee
from aftercare.settings import Settings
from aftercare.tables import (
    Analysis,
    Customer,
    FollowUpTask,
    SentenceTopic,
    SupportCase,
    SurveyResponse,
    TaskEvent,
    Topic,
)

TaskStatus = Literal["open", "in_progress", "waiting_on_customer", "resolved", "not_resolvable"]
TaskPriority = Literal["P1", "P2", "P3"]
# A new task's priority until routing rules give one: "contact every detractor within 24 hours".
DEFAULT_PRIORITY: TaskPriority = "P2"
TaskSort = Literal["due", "-created"]


class FollowUpPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """The settings that decide when a response needs a follow-up and how fast."""

    sla_hours: float = 24.0
    negative_sentiment_threshold: float = 0.6
    fallback_owner_email: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> FollowUpPolicy:
        return cls(
            sla_hours=settings.follow_up_sla_hours,
            negative_sentiment_threshold=settings.negative_sentiment_threshold,
            fallback_owner_email=settings.fallback_owner_email,
        )


class PersonRef(msgspec.Struct, frozen=True, kw_only=True):
    id: int | None
    email: str
    name: str


class TeamRef(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    slug: str
    name: str


class CustomerRef(msgspec.Struct, frozen=True, kw_only=True):
    email: str
    name: str
    locale: str


class CaseRef(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    external_id: str
    subject: str
    agent: str
    team: str
    closed_at: dt.datetime


class AnswersRef(msgspec.Struct, frozen=True, kw_only=True):
    response_id: int
    nps: int | None
    csat: int | None
    comment: str
    submitted_at: dt.datetime


class AnalysisRef(msgspec.Struct, frozen=True, kw_only=True):
    """The analysis the task came from, whole: the owner needs no second call."""

    sentiment_label: str | None
    sentiment_score: float | None
    model_version: str | None
    reading: CommentReading


class TaskView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    status: str
    priority: str
    reasons: list[str]
    due_at: dt.datetime
    overdue: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    resolved_at: dt.datetime | None
    first_contacted_at: dt.datetime | None
    # Set when resolved (a RootCause key) and, with the note, when not resolvable.
    root_cause: str | None
    resolution_note: str
    owner: PersonRef | None
    team: TeamRef | None
    customer: CustomerRef
    case: CaseRef
    answers: AnswersRef
    analysis: AnalysisRef | None
    # The customer's later negative answers, added to this task while it was open; oldest first.
    attached_responses: list[AnswersRef]


class TaskPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[TaskView]
    total: int
    limit: int
    offset: int


class TaskScope(msgspec.Struct, frozen=True, kw_only=True):
    """Which tasks a caller may see: every task, or those of their teams and those they own
    (a fallback owner may own a task of a team they are not in)."""

    # None: every team's tasks.
    team_ids: frozenset[int] | None = None
    owner_id: int | None = None

    def condition(self) -> Any | None:
        """The WHERE condition for this scope; None when it sees every task."""
        if self.team_ids is None:
            return None
        # Never an empty IN (): a caller without teams sees only what they own.
        owned = FollowUpTask.owner == (self.owner_id if self.owner_id is not None else -1)
        if not self.team_ids:
            return owned
        return FollowUpTask.team.is_in(sorted(self.team_ids)) | owned


EVERY_TASK = TaskScope()


class TaskFilters(msgspec.Struct, frozen=True, kw_only=True):
    """Which tasks a list shows; each field left empty matches every task."""

    owner_email: str | None = None
    team: str | None = None
    statuses: tuple[TaskStatus, ...] = ()
    overdue: bool | None = None
    priority: TaskPriority | None = None
    # A topic key: tasks whose answer mentions it in at least one sentence.
    topic: str | None = None
    created_since: dt.datetime | None = None
    sort: TaskSort = "due"
    scope: TaskScope = EVERY_TASK


class FollowUp(msgspec.Struct, frozen=True, kw_only=True):
    """Where a negative response's follow-up went."""

    task_id: int
    # False when the customer already had an open task and the response was added to it.
    opened: bool


async def open_follow_up_task(
    response_id: int, case_id: int, reasons: list[str], policy: FollowUpPolicy, now: dt.datetime
) -> FollowUp | None:
    """Open the follow-up task for a negative response, or add the response to its customer's
    open task; None if the response is followed up already (a redelivery, a re-analysis).

    Call inside the transaction that records the analysis, so the two land together.
    """
    case = (
        await SupportCase.select(SupportCase.team, SupportCase.customer)
        .where(SupportCase.id == case_id)
        .first()
    )
    assert case is not None
    # One customer's answers are decided one at a time: two at once never open two tasks.
    await locking_rows(Customer.select(Customer.id).where(Customer.id == case["customer"]))
    if await follow_up_task_of(response_id) is not None:
        return None
    attached = ResponseAttached(response_id=response_id, case_id=case_id, reasons=reasons)
    attached_to = await _attach_to_open_task(case["customer"], attached, now)
    if attached_to is not None:
        return FollowUp(task_id=attached_to, opened=False)
    assignment = await choose_assignee(case["team"], policy.fallback_owner_email, now=now)
    inserted = (
        await FollowUpTask.insert(
            FollowUpTask(
                response=response_id,
                support_case=case_id,
                team=assignment.team_id,
                owner=assignment.owner_id,
                status="open",
                priority=DEFAULT_PRIORITY,
                reasons=msgspec.json.encode(reasons).decode(),
                due_at=now + dt.timedelta(hours=policy.sla_hours),
                created_at=now,
                updated_at=now,
            )
        )
        .on_conflict(target=FollowUpTask.response, action="DO NOTHING")
        .returning(FollowUpTask.id)
    )
    if not inserted:
        return None
    task_id = int(inserted[0]["id"])
    created = {"reasons": reasons, "owner_id": assignment.owner_id, "rule": assignment.rule}
    await record_task_event(task_id, "created", SYSTEM, created, now)
    return FollowUp(task_id=task_id, opened=True)


async def _attach_to_open_task(
    customer_id: int, attached: ResponseAttached, now: dt.datetime
) -> int | None:
    """Add the response to the customer's open task, if they have one; that task's id."""
    candidate = (
        await FollowUpTask.select(FollowUpTask.id)
        .where(
            FollowUpTask.support_case.customer == customer_id,
            FollowUpTask.status.is_in(OPEN_STATUSES),
        )
        .order_by(FollowUpTask.id)
        .first()
    )
    if candidate is None:
        return None
    # Only while it is still open: its owner may have just resolved it.
    claimed = (
        await FollowUpTask.update({FollowUpTask.updated_at: now})
        .where(FollowUpTask.id == candidate["id"], FollowUpTask.status.is_in(OPEN_STATUSES))
        .returning(FollowUpTask.id)
    )
    if not claimed:
        return None
    await record_task_event(
        candidate["id"], RESPONSE_ATTACHED, SYSTEM, msgspec.structs.asdict(attached), now
    )
    return int(candidate["id"])


class Actor(msgspec.Struct, frozen=True, kw_only=True):
    """Who made a change, as its event records them."""

    label: str
    user_id: int | None = None


# Changes the product makes itself: opening a task, attaching a repeat complaint.
SYSTEM = Actor(label="system")


async def record_task_event(
    task_id: int, kind: str, actor: Actor, data: dict[str, Any], now: dt.datetime
) -> int:
    """One event of a task's history; call inside the transaction of the change it records.

    Every assignment (creation, reassignment, a move away from an absent owner) passes here,
    so here its new owner is told, in the same transaction; not when they took it themselves.
    """
    payload = {**data, "actor_user_id": actor.user_id} if actor.user_id is not None else data
    inserted = await TaskEvent.insert(
        TaskEvent(
            task=task_id,
            kind=kind,
            actor=actor.label,
            data=msgspec.json.encode(payload).decode(),
            at=now,
        )
    ).returning(TaskEvent.id)
    event_id = int(inserted[0]["id"])
    new_owner = new_owner_of(kind, data)
    if new_owner is not None and new_owner != actor.user_id:
        await notify_new_owner(
            task_id,
            event_id,
            new_owner,
            event_kind=kind,
            by=actor.label,
            reason=str(data.get("reason", "")),
            now=now,
        )
    return event_id


_TASK_COLUMNS = (
    FollowUpTask.id,
    FollowUpTask.status,
    FollowUpTask.priority,
    FollowUpTask.reasons,
    FollowUpTask.due_at,
    FollowUpTask.created_at,
    FollowUpTask.updated_at,
    FollowUpTask.resolved_at,
    FollowUpTask.first_contacted_at,
    FollowUpTask.root_cause,
    FollowUpTask.resolution_note,
    FollowUpTask.owner.id.as_alias("owner_id"),
    FollowUpTask.owner.email.as_alias("owner_email"),
    FollowUpTask.owner.name.as_alias("owner_name"),
    FollowUpTask.team.id.as_alias("team_id"),
    FollowUpTask.team.slug.as_alias("team_slug"),
    FollowUpTask.team.name.as_alias("team_name"),
    FollowUpTask.support_case.id.as_alias("case_id"),
    FollowUpTask.support_case.external_id.as_alias("case_external_id"),
    FollowUpTask.support_case.subject.as_alias("case_subject"),
    FollowUpTask.support_case.agent.as_alias("case_agent"),
    FollowUpTask.support_case.team_key.as_alias("case_team"),
    FollowUpTask.support_case.closed_at.as_alias("case_closed_at"),
    FollowUpTask.support_case.customer.email.as_alias("customer_email"),
    FollowUpTask.support_case.customer.name.as_alias("customer_name"),
    FollowUpTask.support_case.customer.locale.as_alias("customer_locale"),
    FollowUpTask.response.id.as_alias("response_id"),
    FollowUpTask.response.nps.as_alias("nps"),
    FollowUpTask.response.csat.as_alias("csat"),
    FollowUpTask.response.comment.as_alias("comment"),
    FollowUpTask.response.submitted_at.as_alias("submitted_at"),
)


async def list_tasks(
    filters: TaskFilters, *, now: dt.datetime, limit: int = 100, offset: int = 0
) -> TaskPage:
    """A page of tasks with their customer, case, answers and analysis, and how many match."""
    if filters.topic is not None and not await Topic.exists().where(Topic.key == filters.topic):
        raise InvalidInput("topic", f"no topic with key {filters.topic!r}")
    conditions = _conditions(filters, now)
    query = FollowUpTask.select(*_TASK_COLUMNS)
    count = FollowUpTask.count()
    if conditions:
        query, count = query.where(*conditions), count.where(*conditions)
    if filters.sort == "due":
        query = query.order_by(FollowUpTask.due_at).order_by(FollowUpTask.id)
    else:
        query = query.order_by(FollowUpTask.created_at, ascending=False).order_by(
            FollowUpTask.id, ascending=False
        )
    rows = await query.limit(limit).offset(offset)
    return TaskPage(
        items=await _task_views(rows, now), total=await count, limit=limit, offset=offset
    )


async def count_tasks_by_status(filters: TaskFilters, *, now: dt.datetime) -> dict[str, int]:
    """How many tasks the filters match in each status (their own status filter aside)."""
    conditions = _conditions(msgspec.structs.replace(filters, statuses=()), now)
    query = FollowUpTask.select(FollowUpTask.status, Count()).group_by(FollowUpTask.status)
    rows = await (query.where(*conditions) if conditions else query)
    return {row["status"]: row["count"] for row in rows}


def _conditions(filters: TaskFilters, now: dt.datetime) -> list[Any]:
    conditions: list[Any] = []
    scope = filters.scope.condition()
    if scope is not None:
        conditions.append(scope)
    if filters.owner_email is not None:
        conditions.append(FollowUpTask.owner.email == filters.owner_email.lower())
    if filters.team is not None:
        conditions.append(FollowUpTask.team.slug == filters.team)
    if filters.statuses:
        conditions.append(FollowUpTask.status.is_in(list(filters.statuses)))
    if filters.priority is not None:
        conditions.append(FollowUpTask.priority == filters.priority)
    if filters.topic is not None:
        mentioning = SentenceTopic.select(SentenceTopic.response).where(
            SentenceTopic.topic == filters.topic
        )
        conditions.append(FollowUpTask.response.is_in(mentioning))
    if filters.created_since is not None:
        conditions.append(FollowUpTask.created_at >= filters.created_since)
    if filters.overdue is True:
        conditions.append(FollowUpTask.status.is_in(OPEN_STATUSES))
        conditions.append(FollowUpTask.due_at < now)
    elif filters.overdue is False:
        conditions.append(FollowUpTask.status.not_in(OPEN_STATUSES) | (FollowUpTask.due_at >= now))
    return conditions


async def get_task(task_id: int, *, now: dt.datetime, scope: TaskScope = EVERY_TASK) -> TaskView:
    """One task; NotFound also when it lies outside `scope` (its existence is not revealed)."""
    rows = await FollowUpTask.select(*_TASK_COLUMNS).where(*_one_task(task_id, scope))
    if not rows:
        raise NotFound(f"No follow-up task with id {task_id}.")
    return (await _task_views(rows, now))[0]


async def ensure_task_visible(task_id: int, scope: TaskScope) -> None:
    """NotFound unless the task exists inside `scope`: call before changing it."""
    if not await FollowUpTask.exists().where(*_one_task(task_id, scope)):
        raise NotFound(f"No follow-up task with id {task_id}.")


async def ensure_case_visible(case_id: int, scope: TaskScope) -> None:
    """NotFound unless the case is of a team in `scope`, or one of its tasks is in `scope`
    (a lead reads their teams' cases, not the others')."""
    if scope.team_ids is None:
        if not await SupportCase.exists().where(SupportCase.id == case_id):
            raise NotFound(f"No case with id {case_id}.")
        return
    case = await SupportCase.select(SupportCase.team).where(SupportCase.id == case_id).first()
    if case is not None and case["team"] in scope.team_ids:
        return
    # A task of the case in scope: one of theirs from another team (as the fallback owner).
    owned = FollowUpTask.owner == (scope.owner_id if scope.owner_id is not None else -1)
    if case is None or not await FollowUpTask.exists().where(
        FollowUpTask.support_case == case_id, owned
    ):
        raise NotFound(f"No case with id {case_id}.")


async def ensure_response_visible(response_id: int, scope: TaskScope) -> None:
    """NotFound unless the response's case is visible in `scope`."""
    row = (
        await SurveyResponse.select(SurveyResponse.support_case)
        .where(SurveyResponse.id == response_id)
        .first()
    )
    if row is None:
        raise NotFound(f"No response with id {response_id}.")
    try:
        await ensure_case_visible(row["support_case"], scope)
    except NotFound:
        raise NotFound(f"No response with id {response_id}.") from None


def _one_task(task_id: int, scope: TaskScope) -> list[Any]:
    scope_condition = scope.condition()
    conditions = [FollowUpTask.id == task_id]
    return conditions if scope_condition is None else [*conditions, scope_condition]


async def _task_views(rows: list[dict[str, Any]], now: dt.datetime) -> list[TaskView]:
    if not rows:
        return []
    analyses = await Analysis.select(
        Analysis.response,
        Analysis.sentiment_label,
        Analysis.sentiment_score,
        Analysis.model_version,
        Analysis.language,
        Analysis.details,
    ).where(Analysis.response.is_in([row["response_id"] for row in rows]))
    by_response = {row["response"]: row for row in analyses}
    attached = await _attached_responses([row["id"] for row in rows])
    return [
        _task_view(row, by_response.get(row["response_id"]), attached.get(row["id"], []), now)
        for row in rows
    ]


async def _attached_responses(task_ids: list[int]) -> dict[int, list[AnswersRef]]:
    """The answers each task's `response_attached` events added to it, oldest first."""
    events = (
        await TaskEvent.select(TaskEvent.task, TaskEvent.data)
        .where(TaskEvent.task.is_in(task_ids), TaskEvent.kind == RESPONSE_ATTACHED)
        .order_by(TaskEvent.id)
    )
    if not events:
        return {}
    added = [
        (event["task"], msgspec.json.decode(event["data"], type=ResponseAttached).response_id)
        for event in events
    ]
    responses = await SurveyResponse.select(
        SurveyResponse.id.as_alias("response_id"),
        SurveyResponse.nps,
        SurveyResponse.csat,
        SurveyResponse.comment,
        SurveyResponse.submitted_at,
    ).where(SurveyResponse.id.is_in([response_id for _, response_id in added]))
    answers = {row["response_id"]: _answers(row) for row in responses}
    by_task: dict[int, list[AnswersRef]] = {}
    for task_id, response_id in added:
        if response_id in answers:
            by_task.setdefault(task_id, []).append(answers[response_id])
    return by_task


def _answers(row: dict[str, Any]) -> AnswersRef:
    return AnswersRef(
        response_id=row["response_id"],
        nps=row["nps"],
        csat=row["csat"],
        comment=row["comment"],
        submitted_at=row["submitted_at"],
    )


def _task_view(
    row: dict[str, Any],
    analysis: dict[str, Any] | None,
    attached: list[AnswersRef],
    now: dt.datetime,
) -> TaskView:
    return TaskView(
        id=row["id"],
        status=row["status"],
        priority=row["priority"],
        reasons=msgspec.json.decode(row["reasons"]),
        due_at=row["due_at"],
        overdue=row["status"] in OPEN_STATUSES and row["due_at"] < now,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        resolved_at=row["resolved_at"],
        first_contacted_at=row["first_contacted_at"],
        root_cause=row["root_cause"] or None,
        resolution_note=row["resolution_note"],
        owner=PersonRef(id=row["owner_id"], email=row["owner_email"], name=row["owner_name"])
        if row["owner_id"] is not None
        else None,
        team=TeamRef(id=row["team_id"], slug=row["team_slug"], name=row["team_name"])
        if row["team_id"] is not None
        else None,
        customer=CustomerRef(
            email=row["customer_email"], name=row["customer_name"], locale=row["customer_locale"]
        ),
        case=CaseRef(
            id=row["case_id"],
            external_id=row["case_external_id"],
            subject=row["case_subject"],
            agent=row["case_agent"],
            team=row["case_team"],
            closed_at=row["case_closed_at"],
        ),
        answers=_answers(row),
        analysis=AnalysisRef(
            sentiment_label=analysis["sentiment_label"],
            sentiment_score=analysis["sentiment_score"],
            model_version=analysis["model_version"] or None,
            reading=comment_reading(analysis),
        )
        if analysis
        else None,
        attached_responses=attached,
    )
