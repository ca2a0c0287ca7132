"""Analysis of a response's free text, and the follow-up decision that depends on it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import msgspec

from aftercare.clock import Clock
from aftercare.db import write_transaction
from aftercare.tables import Analysis, SurveyResponse
from aftercare.tasks import FollowUpPolicy, open_follow_up_task

log = logging.getLogger(__name__)


class SentimentResult(Protocol):
    @property
    def label(self) -> str: ...

    @property
    def score(self) -> float: ...

    @property
    def model_version(self) -> str: ...


Analyser = Callable[[list[str]], Sequence[SentimentResult]]


def negative_reasons(
    nps: int | None, csat: int | None, sentiment: SentimentResult | None, threshold: float
) -> list[str]:
    """Why a response counts as negative; empty when it does not."""
    reasons = []
    if nps is not None and nps <= 6:
        reasons.append(f"nps {nps} <= 6")
    if csat is not None and csat <= 2:
        reasons.append(f"csat {csat} <= 2")
    if sentiment is not None and sentiment.label == "negative" and sentiment.score >= threshold:
        reasons.append(f"negative comment ({sentiment.score:.2f} >= {threshold:.2f})")
    return reasons


async def analyse_responses(
    response_ids: list[int], analyse: Analyser, *, policy: FollowUpPolicy, clock: Clock
) -> int:
    """Analyse the pending responses among `response_ids` in one model pass; return how many.

    Idempotent: responses already analysed are skipped, so a message delivered twice does
    nothing the second time.
    """
    rows = await _pending_responses(response_ids)
    if not rows:
        return 0
    texts = [row["comment"] for row in rows if row["comment"]]
    # The model is CPU-bound; a thread keeps the event loop free for other messages.
    results = list(await asyncio.to_thread(analyse, texts)) if texts else []
    by_text_index = iter(results)
    recorded = 0
    for row in rows:
        sentiment = next(by_text_index) if row["comment"] else None
        recorded += await record_analysis(row, sentiment, "analysed", policy=policy, clock=clock)
    return recorded


async def finish_without_sentiment(
    response_ids: list[int], *, policy: FollowUpPolicy, clock: Clock
) -> int:
    """Close out responses whose text could not be analysed: their scores alone decide."""
    recorded = 0
    for row in await _pending_responses(response_ids):
        log.error("giving up on analysing response %s; deciding on its scores", row["id"])
        recorded += await record_analysis(row, None, "failed", policy=policy, clock=clock)
    return recorded


async def record_analysis(
    response: dict[str, Any],
    sentiment: SentimentResult | None,
    status: str,
    *,
    policy: FollowUpPolicy,
    clock: Clock,
) -> bool:
    """Store one response's analysis and, if it is negative, its follow-up task, together."""
    now = clock()
    reasons = negative_reasons(
        response["nps"], response["csat"], sentiment, policy.negative_sentiment_threshold
    )
    async with write_transaction():
        inserted = (
            await Analysis.insert(
                Analysis(
                    response=response["id"],
                    sentiment_label=sentiment.label if sentiment else None,
                    sentiment_score=round(sentiment.score, 4) if sentiment else None,
                    model_version=sentiment.model_version if sentiment else "",
                    is_negative=bool(reasons),
                    negative_reasons=msgspec.json.encode(reasons).decode(),
                    details="{}",
                    analysed_at=now,
                )
            )
            .on_conflict(target=Analysis.response, action="DO NOTHING")
            .returning(Analysis.id)
        )
        if not inserted:
            return False
        await SurveyResponse.update({SurveyResponse.status: status}).where(
            SurveyResponse.id == response["id"]
        )
        if reasons:
            await open_follow_up_task(
                response["id"], response["support_case"], reasons, policy, now
            )
    return True


async def _pending_responses(response_ids: list[int]) -> list[dict[str, Any]]:
    if not response_ids:
        return []
    return await (
        SurveyResponse.select(
            SurveyResponse.id,
            SurveyResponse.support_case,
            SurveyResponse.nps,
            SurveyResponse.csat,
            SurveyResponse.comment,
        )
        .where(SurveyResponse.id.is_in(response_ids), SurveyResponse.status == "pending")
        .order_by(SurveyResponse.id)
    )
