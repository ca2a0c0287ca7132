"""The outbox: broker work written in the same transaction as the change that causes it.

A relay hands undispatched rows to the broker; a sweep re-requests analyses that never
finished. Together they make a lost message or a crashed worker cost time, never data.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

import msgspec

from aftercare.clock import Clock
from aftercare.db import write_transaction
from aftercare.tables import OutboxMessage, SurveyResponse

log = logging.getLogger(__name__)

ANALYSE_RESPONSES = "analyse_responses"

# Sends one message to the broker: (kind, payload) -> None. Raises when the broker is down.
Send = Callable[[str, dict[str, Any]], Awaitable[None] | None]


@runtime_checkable  # Litestar checks an injected dependency against its annotation
class OutboxRelay(Protocol):
    """What a request that queued a message may ask of the relay: to run soon."""

    def wake(self) -> None: ...


async def add_message(kind: str, payload: dict[str, Any], now: dt.datetime) -> None:
    """Queue a message; call inside the transaction that makes it necessary."""
    await OutboxMessage.insert(
        OutboxMessage(kind=kind, payload=msgspec.json.encode(payload).decode(), created_at=now)
    )


async def dispatch_outbox(send: Send, *, clock: Clock, batch_size: int, limit: int = 500) -> int:
    """Hand undispatched messages to the broker; return how many messages were sent.

    Analysis requests are merged into batches of `batch_size` ids, so one model pass serves many
    responses. Rows are claimed before sending (update where still undispatched), so two relays
    rarely send the same row; rows whose send failed are released for the next round, and a
    crash between claim and send is healed by the sweep.
    """
    rows = (
        await OutboxMessage.select(OutboxMessage.id, OutboxMessage.kind, OutboxMessage.payload)
        .where(OutboxMessage.dispatched_at.is_null())
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    if not rows:
        return 0
    claimed = await _claim([row["id"] for row in rows], clock())
    messages = _merge_analysis_requests([row for row in rows if row["id"] in claimed], batch_size)
    for sent, (kind, payload, _row_ids) in enumerate(messages):
        try:
            result = send(kind, payload)
            if result is not None:
                await result
        except Exception:
            unsent = [row_id for _, _, ids in messages[sent:] for row_id in ids]
            await _release(unsent)
            raise
    return len(messages)


def _merge_analysis_requests(
    rows: list[dict[str, Any]], batch_size: int
) -> list[tuple[str, dict[str, Any], list[int]]]:
    """(kind, payload, outbox row ids) per message, analysis requests merged into batches."""
    messages: list[tuple[str, dict[str, Any], list[int]]] = []
    response_ids: list[int] = []
    response_rows: list[int] = []
    for row in rows:
        payload = msgspec.json.decode(row["payload"])
        if row["kind"] == ANALYSE_RESPONSES:
            response_ids.extend(payload["response_ids"])
            response_rows.append(row["id"])
        else:
            messages.append((row["kind"], payload, [row["id"]]))
    for start in range(0, len(response_ids), batch_size):
        # Every batch carries all the rows, so a failed send releases them all: safe, as the
        # analysis actor skips responses that are already analysed.
        batch = response_ids[start : start + batch_size]
        messages.append((ANALYSE_RESPONSES, {"response_ids": batch}, response_rows))
    return messages


async def _release(row_ids: list[int]) -> None:
    if row_ids:
        async with write_transaction():
            await OutboxMessage.update({OutboxMessage.dispatched_at: None}).where(
                OutboxMessage.id.is_in(row_ids)
            )


async def _claim(ids: list[int], now: dt.datetime) -> set[int]:
    async with write_transaction():
        claimed = (
            await OutboxMessage.update({OutboxMessage.dispatched_at: now})
            .where(OutboxMessage.id.is_in(ids), OutboxMessage.dispatched_at.is_null())
            .returning(OutboxMessage.id)
        )
    return {row["id"] for row in claimed}


async def request_stale_analyses(
    *, clock: Clock, stale_after: dt.timedelta, max_attempts: int
) -> tuple[int, list[int]]:
    """Re-request analyses pending for longer than `stale_after`.

    Returns (re-requested count, ids that ran out of attempts), so the caller can finish those
    on their scores alone instead of retrying a text that kills its worker forever. Attempts
    are counted by the workers when they start on a response, so an outage or a backlog only
    delays an analysis: a request nobody took costs nothing.
    """
    now = clock()
    stale = (
        await SurveyResponse.select(SurveyResponse.id, SurveyResponse.analysis_attempts)
        .where(
            SurveyResponse.status == "pending",
            SurveyResponse.analysis_requested_at < now - stale_after,
        )
        .order_by(SurveyResponse.id)
        .limit(1000)
    )
    exhausted = [row["id"] for row in stale if row["analysis_attempts"] >= max_attempts]
    retry = [row["id"] for row in stale if row["analysis_attempts"] < max_attempts]
    if retry:
        async with write_transaction():
            await SurveyResponse.update({SurveyResponse.analysis_requested_at: now}).where(
                SurveyResponse.id.is_in(retry), SurveyResponse.status == "pending"
            )
            await add_message(ANALYSE_RESPONSES, {"response_ids": retry}, now)
        log.warning("re-requested analysis of %d stale responses", len(retry))
    return len(retry), exhausted
