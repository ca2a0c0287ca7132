"""At-least-once delivery without double work: duplicates, lost messages, double submits."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time

import dramatiq
import pytest

from aftercare import analysis
from aftercare.cases import ClosedCase, CustomerDetails, record_closed_case
from aftercare.clock import FixedClock
from aftercare.errors import AlreadyAnswered
from aftercare.outbox import ANALYSE_RESPONSES, dispatch_outbox
from aftercare.responses import SurveyAnswers, get_response, submit_response
from aftercare.tables import Analysis, FollowUpTask, OutboxMessage, SurveyResponse, TaskEvent
from aftercare.tasks import FollowUpPolicy
from api.app import create_app
from tests.conftest import API_TOKEN, TEST_SETTINGS, run, settings_with
from tests.helpers import ApiClient, survey_token
from worker.housekeeping import run_housekeeping_once
from worker.models import packaged_analyser

NOW = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)


async def _answered_case(
    external_id: str, nps: int, comment: str, clock: FixedClock, csat: int = 2
) -> int:
    case = ClosedCase(external_id=external_id, customer=CustomerDetails(email="pat@example.org"))
    invitation, _ = await record_closed_case(case, public_url="http://x", clock=clock)
    return await submit_response(
        survey_token(invitation.survey_url),
        SurveyAnswers(nps=nps, csat=csat, comment=comment),
        comment_max_chars=5000,
        clock=clock,
    )


def test_the_same_analysis_delivered_twice_at_once_creates_one_task(db: None) -> None:
    clock = FixedClock(NOW)

    async def scenario() -> list[int]:
        response_id = await _answered_case("DUP-1", 3, "Nobody ever called me back.", clock)
        # Two workers got the same message and run side by side.
        return await asyncio.gather(
            *(
                analysis.analyse_responses(
                    [response_id],
                    packaged_analyser(TEST_SETTINGS),
                    policy=FollowUpPolicy(),
                    clock=clock,
                )
                for _ in range(2)
            )
        )

    recorded = run(scenario())
    assert sorted(recorded) == [0, 1]
    assert run(Analysis.count()) == 1
    assert run(FollowUpTask.count()) == 1
    assert run(TaskEvent.count()) == 1


def test_redelivering_a_processed_message_through_the_broker_changes_nothing(
    api: ApiClient,
) -> None:
    case = api.close_case("DUP-2")
    response = api.submit_json(case["survey_url"], nps=1, csat=1, comment="Still broken.")
    response_id = response.json()["id"]
    first = api.wait_until_analysed(response_id)

    actors = api.http.app.state.actors
    for _ in range(2):
        actors.analyse_responses.send(response_ids=[response_id])
    actors.broker.join(actors.analyse_responses.queue_name, timeout=30_000)

    assert api.get(f"/api/v1/responses/{response_id}").json() == first
    assert len(api.tasks()) == 1
    assert run(Analysis.count()) == 1


def test_a_message_lost_with_its_worker_is_resent_by_the_sweep(db: None) -> None:
    clock = FixedClock(dt.datetime.now(dt.UTC))
    settings = settings_with(embedded_worker="off", analysis_sweep_after_seconds=60
    )
    with ApiClient.for_app(create_app(settings, clock=clock), token=API_TOKEN) as api:
        case = api.close_case("LOST-1")
        response_id = api.submit_json(case["survey_url"], nps=2, csat=1).json()["id"]
        _wait_for(
            lambda: run(OutboxMessage.count().where(OutboxMessage.dispatched_at.is_null())) == 0
        )
        # The worker that took the message died with it: the queue is empty, nothing acked.
        actors = api.http.app.state.actors
        actors.broker.flush(actors.analyse_responses.queue_name)
        time.sleep(1.0)  # a few housekeeping rounds: nothing is re-sent before the deadline
        assert api.get(f"/api/v1/responses/{response_id}").json()["status"] == "pending"

        clock.advance(seconds=61)
        worker = dramatiq.Worker(actors.broker, worker_threads=1, worker_timeout=100)
        worker.start()
        try:
            analysed = api.wait_until_analysed(response_id)
        finally:
            worker.stop()
    assert analysed["status"] == "analysed"
    assert analysed["follow_up_task_id"] is not None
    # The lost message was never started by a worker: only the one that analysed it counts.
    assert (
        run(SurveyResponse.select(SurveyResponse.analysis_attempts).first())["analysis_attempts"]
        == 1
    )


def test_an_outage_longer_than_every_attempt_only_delays_the_analysis(db: None) -> None:
    clock = FixedClock(NOW)
    settings = settings_with(analysis_sweep_after_seconds=60, analysis_max_attempts=2
    )
    response_id = run(_answered_case("OUTAGE-1", 9, "Nobody ever called me back.", clock, csat=5))
    sent: list[list[int]] = []

    async def record_send(kind: str, payload: dict) -> None:
        if kind == ANALYSE_RESPONSES:  # the overdue check's runs are not what this counts
            sent.append(payload["response_ids"])

    # No worker takes any request for ten sweeps, five times the allowed attempts.
    for _ in range(10):
        run(run_housekeeping_once(settings, clock, send=record_send))
        clock.advance(seconds=61)
    assert sent == [[response_id]] * 10
    assert _status_of(response_id) == "pending"

    # The worker is back: the answer is analysed, and its comment alone earns a task.
    run(analysis.analyse_responses(sent[-1], packaged_analyser(settings), **_worker_args(clock)))
    assert _status_of(response_id) == "analysed"
    task = run(FollowUpTask.select().where(FollowUpTask.response == response_id).first())
    assert task is not None and "negative comment" in task["reasons"]


class WorkerKilled(BaseException):
    """The worker process dies mid-pass (an OOM kill, a segfault): nothing is caught."""


def test_a_text_that_kills_its_worker_every_time_is_decided_on_its_scores(db: None) -> None:
    clock = FixedClock(NOW)
    settings = settings_with(analysis_sweep_after_seconds=60, analysis_max_attempts=2
    )
    response_id = run(_answered_case("POISON-1", 4, "a text that kills the worker", clock))

    def killing_analyser(texts: list[str], topics: object) -> list[object]:
        raise WorkerKilled

    killing_analyser.model_version = "test"  # type: ignore[attr-defined]

    async def worker_dies(kind: str, payload: dict) -> None:
        if kind != ANALYSE_RESPONSES:
            return  # the overdue check's runs and the task's mail are not this worker's
        with contextlib.suppress(WorkerKilled):
            await analysis.analyse_responses(
                payload["response_ids"], killing_analyser, **_worker_args(clock)
            )

    for _ in range(4):
        run(run_housekeeping_once(settings, clock, send=worker_dies))
        clock.advance(seconds=61)

    row = run(SurveyResponse.select().where(SurveyResponse.id == response_id).first())
    assert row["status"] == "failed" and row["analysis_attempts"] == 2
    view = run(get_response(response_id))
    assert view.analysis_error == "no worker finished analysing it in 2 attempts"
    task = run(FollowUpTask.select().where(FollowUpTask.response == response_id).first())
    assert task is not None and "nps 4 <= 6" in task["reasons"]


POISONED_TEXT = "This one comment makes the model raise."


def test_a_text_that_makes_the_model_raise_fails_alone_not_its_batch(db: None) -> None:
    clock = FixedClock(NOW)
    real_model = packaged_analyser(TEST_SETTINGS)

    def poisoned_model(texts: list[str], topics: object) -> object:
        if POISONED_TEXT in texts:
            raise ValueError("the tokenizer choked")
        return real_model(texts, topics)  # type: ignore[arg-type]

    poisoned_model.model_version = real_model.model_version  # type: ignore[attr-defined]
    comments = [f"Case {n}: the agent fixed it quickly, thanks." for n in range(31)]
    comments.insert(17, POISONED_TEXT)
    ids = [
        run(_answered_case(f"BATCH32-{n}", 9, comment, clock, csat=5))
        for n, comment in enumerate(comments)
    ]

    stored = run(analysis.analyse_responses(ids, poisoned_model, **_worker_args(clock)))

    assert stored == 32
    statuses = [_status_of(response_id) for response_id in ids]
    assert statuses.count("analysed") == 31 and statuses[17] == "failed"
    failed = run(get_response(ids[17]))
    assert failed.analysis_error == "ValueError: the tokenizer choked"
    assert failed.sentiment_label is None and failed.negative is False
    assert run(get_response(ids[0])).sentiment_label == "positive"


def _status_of(response_id: int) -> str:
    row = run(SurveyResponse.select(SurveyResponse.status).where(SurveyResponse.id == response_id))
    return str(row[0]["status"])


def _worker_args(clock: FixedClock) -> dict[str, object]:
    return {"policy": FollowUpPolicy(), "clock": clock}


def test_a_double_submit_stores_one_response(db: None) -> None:
    clock = FixedClock(NOW)

    async def scenario() -> list[object]:
        case = ClosedCase(external_id="TWICE-1", customer=CustomerDetails(email="q@example.org"))
        invitation, _ = await record_closed_case(case, public_url="http://x", clock=clock)
        token = survey_token(invitation.survey_url)
        attempts = [
            submit_response(
                token,
                SurveyAnswers(nps=n, csat=3, comment=f"attempt {n}"),
                comment_max_chars=5000,
                clock=clock,
            )
            for n in range(8)
        ]
        return await asyncio.gather(*attempts, return_exceptions=True)

    outcomes = run(scenario())
    stored = [outcome for outcome in outcomes if isinstance(outcome, int)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, AlreadyAnswered)]
    assert len(stored) == 1 and len(refused) == 7
    assert run(SurveyResponse.count()) == 1
    assert run(OutboxMessage.count()) == 1


def _wait_for(condition, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


def test_pending_analyses_go_to_the_workers_in_batches(db: None) -> None:
    clock = FixedClock(NOW)

    async def scenario() -> list[list[int]]:
        ids = [await _answered_case(f"BATCH-{n}", 8, "", clock) for n in range(70)]
        sent: list[list[int]] = []

        async def record(kind: str, payload: dict) -> None:
            sent.append(payload["response_ids"])

        await dispatch_outbox(record, clock=clock, batch_size=32)
        assert sorted(i for batch in sent for i in batch) == ids
        # Everything was claimed: a second relay round sends nothing again.
        await dispatch_outbox(record, clock=clock, batch_size=32)
        return sent

    batches = run(scenario())
    assert [len(batch) for batch in batches] == [32, 32, 6]


def test_a_failed_send_leaves_the_messages_for_the_next_round(db: None) -> None:
    clock = FixedClock(NOW)
    run(_answered_case("RETRY-1", 8, "", clock))

    async def broker_down(kind: str, payload: dict) -> None:
        raise ConnectionError("broker down")

    with pytest.raises(ConnectionError):
        run(dispatch_outbox(broker_down, clock=clock, batch_size=32))
    undispatched = OutboxMessage.count().where(OutboxMessage.dispatched_at.is_null())
    assert run(undispatched) == 1
