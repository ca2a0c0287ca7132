"""Analysis of a response's free text, and the follow-up decision that depends on it."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any, Literal, Protocol

import msgspec

from aftercare.clock import Clock
from aftercare.db import write_transaction
from aftercare.tables import Analysis, CommentSentence, SentenceTopic, SurveyResponse
from aftercare.tasks import FollowUpPolicy, open_follow_up_task
from aftercare.topics import TopicView, list_topics
from nlp.results import CommentAnalysis
from nlp.types import Sentiment

log = logging.getLogger(__name__)

AspectLabel = Literal["negative", "neutral", "positive", "mixed"]


class CommentAnalyser(Protocol):
    """Analyses many comments in one pass against the given topics (see nlp.pipeline)."""

    @property
    def model_version(self) -> str: ...

    def __call__(
        self, texts: list[str], topics: Sequence[TopicView]
    ) -> Sequence[CommentAnalysis]: ...


def negative_reasons(
    nps: int | None, csat: int | None, sentiment: Sentiment | None, threshold: float
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


def aspect_sentiments(analysis: CommentAnalysis) -> dict[str, AspectLabel]:
    """Topic x sentence sentiment: how the customer felt about each thing they mentioned."""
    labels: dict[str, set[str]] = {}
    for sentence in analysis.sentences:
        if sentence.sentiment is None:
            continue
        for topic in sentence.topics:
            labels.setdefault(topic.key, set()).add(sentence.sentiment.label)
    aspects: dict[str, AspectLabel] = {}
    for key, found in sorted(labels.items()):
        polar = found - {"neutral"}
        if len(polar) > 1:
            aspects[key] = "mixed"
        elif polar:
            aspects[key] = "negative" if "negative" in polar else "positive"
        else:
            aspects[key] = "neutral"
    return aspects


async def analyse_responses(
    response_ids: list[int],
    analyse: CommentAnalyser,
    *,
    policy: FollowUpPolicy,
    clock: Clock,
    replace: bool = False,
) -> int:
    """Analyse responses in one model pass; return how many analyses were stored.

    Without `replace`, only pending responses are analysed and a response analysed already is
    skipped, so a message delivered twice does nothing the second time. With `replace`
    (re-analysis after a model upgrade) every listed response gets a fresh analysis.
    """
    rows = await _responses(response_ids, pending_only=not replace)
    if not rows:
        return 0
    if not replace:
        await _count_attempt([row["id"] for row in rows])
    topics = await list_topics(active_only=True)
    texts = [row["comment"] for row in rows if row["comment"]]
    outcomes = iter(await _analyse_isolating_failures(analyse, texts, topics))
    recorded = 0
    for row in rows:
        outcome = next(outcomes) if row["comment"] else None
        if isinstance(outcome, AnalysisFailure):
            recorded += await record_analysis(
                row, None, "failed", policy=policy, clock=clock, failure_reason=outcome.reason
            )
        else:
            recorded += await record_analysis(
                row, outcome, "analysed", policy=policy, clock=clock, replace=replace
            )
    return recorded


class AnalysisFailure(msgspec.Struct, frozen=True):
    """The model raised on this one text, alone; why, for the response's record."""

    reason: str


async def _analyse_isolating_failures(
    analyse: CommentAnalyser, texts: list[str], topics: Sequence[TopicView]
) -> list[CommentAnalysis | AnalysisFailure]:
    """One model pass over the texts; if it raises, each text alone, so one text that breaks
    the model fails only itself."""
    if not texts:
        return []
    try:
        # The model is CPU-bound; a thread keeps the event loop free for other messages.
        return list(await asyncio.to_thread(analyse, texts, topics))
    except Exception as error:
        if len(texts) == 1:
            log.exception("the model failed on a text analysed alone")
            return [AnalysisFailure(f"{type(error).__name__}: {error}"[:500])]
        log.warning("a batch of %d texts failed (%r); analysing each alone", len(texts), error)
    outcomes: list[CommentAnalysis | AnalysisFailure] = []
    for text in texts:
        outcomes.extend(await _analyse_isolating_failures(analyse, [text], topics))
    return outcomes


async def _count_attempt(response_ids: list[int]) -> None:
    """A worker is about to try these pending responses: only such tries count as attempts."""
    async with write_transaction():
        await SurveyResponse.update(
            {SurveyResponse.analysis_attempts: SurveyResponse.analysis_attempts + 1}
        ).where(SurveyResponse.id.is_in(response_ids), SurveyResponse.status == "pending")


async def responses_submitted_since(since: dt.datetime) -> list[int]:
    """Ids of every response submitted at or after `since`, oldest first (for re-analysis)."""
    rows = await (
        SurveyResponse.select(SurveyResponse.id)
        .where(SurveyResponse.submitted_at >= since)
        .order_by(SurveyResponse.id)
    )
    return [row["id"] for row in rows]


async def finish_without_sentiment(
    response_ids: list[int], *, reason: str, policy: FollowUpPolicy, clock: Clock
) -> int:
    """Close out responses whose text could not be analysed: their scores alone decide."""
    recorded = 0
    for row in await _responses(response_ids, pending_only=True):
        log.error("response %s: %s; its scores alone decide", row["id"], reason)
        recorded += await record_analysis(
            row, None, "failed", policy=policy, clock=clock, failure_reason=reason
        )
    return recorded


async def record_analysis(
    response: dict[str, Any],
    result: CommentAnalysis | None,
    status: str,
    *,
    policy: FollowUpPolicy,
    clock: Clock,
    replace: bool = False,
    failure_reason: str = "",
) -> bool:
    """Store one response's analysis, its sentences and, if negative, its follow-up task.

    All in one transaction, so an analysis never exists without the task it calls for.
    A failed analysis (status "failed") carries why in `failure_reason`.
    """
    now = clock()
    sentiment = result.sentiment if result is not None and result.language_supported else None
    reasons = negative_reasons(
        response["nps"], response["csat"], sentiment, policy.negative_sentiment_threshold
    )
    row = Analysis(
        response=response["id"],
        sentiment_label=sentiment.label if sentiment else None,
        sentiment_score=round(sentiment.score, 4) if sentiment else None,
        model_version=result.model_version if result else "",
        is_negative=bool(reasons),
        negative_reasons=msgspec.json.encode(reasons).decode(),
        language=result.language if result else "",
        details=msgspec.json.encode(_details(result)).decode(),
        failure_reason=failure_reason,
        analysed_at=now,
    )
    async with write_transaction():
        insert = Analysis.insert(row)
        if replace:
            insert = insert.on_conflict(
                target=Analysis.response,
                action="DO UPDATE",
                values=[
                    Analysis.sentiment_label,
                    Analysis.sentiment_score,
                    Analysis.model_version,
                    Analysis.is_negative,
                    Analysis.negative_reasons,
                    Analysis.language,
                    Analysis.details,
                    Analysis.failure_reason,
                    Analysis.analysed_at,
                ],
            )
        else:
            insert = insert.on_conflict(target=Analysis.response, action="DO NOTHING")
        if not await insert.returning(Analysis.id):
            return False
        await SurveyResponse.update({SurveyResponse.status: status}).where(
            SurveyResponse.id == response["id"]
        )
        await _store_sentences(response["id"], result, now)
        if reasons:
            await open_follow_up_task(
                response["id"], response["support_case"], reasons, policy, now
            )
    return True


def _details(result: CommentAnalysis | None) -> dict[str, Any]:
    if result is None:
        return {}
    return {
        "language_supported": result.language_supported,
        "aspects": aspect_sentiments(result),
        "sentences": [
            {
                "text": sentence.text,
                "sentiment_label": sentence.sentiment.label if sentence.sentiment else None,
                "sentiment_score": round(sentence.sentiment.score, 4)
                if sentence.sentiment
                else None,
                "topics": [topic.key for topic in sentence.topics],
            }
            for sentence in result.sentences
        ],
    }


async def _store_sentences(response_id: int, result: CommentAnalysis | None, now: Any) -> None:
    """One row per sentence, keyed by position, and one per topic found in it: re-analysis
    overwrites, never duplicates."""
    sentences = result.sentences if result else ()
    await SentenceTopic.delete().where(SentenceTopic.response == response_id)
    await CommentSentence.delete().where(
        CommentSentence.response == response_id, CommentSentence.position >= len(sentences)
    )
    for position, sentence in enumerate(sentences):
        label = sentence.sentiment.label if sentence.sentiment else None
        stored = (
            await CommentSentence.insert(
                CommentSentence(
                    key=f"{response_id}:{position}",
                    response=response_id,
                    position=position,
                    text=sentence.text,
                    sentiment_label=label,
                    sentiment_score=round(sentence.sentiment.score, 4)
                    if sentence.sentiment
                    else None,
                    topics=msgspec.json.encode(sentence.topics).decode(),
                    embedding=sentence.embedding,
                    model_version=result.model_version if result else "",
                    analysed_at=now,
                )
            )
            .on_conflict(
                target=CommentSentence.key,
                action="DO UPDATE",
                values=[
                    CommentSentence.text,
                    CommentSentence.sentiment_label,
                    CommentSentence.sentiment_score,
                    CommentSentence.topics,
                    CommentSentence.embedding,
                    CommentSentence.model_version,
                    CommentSentence.analysed_at,
                ],
            )
            .returning(CommentSentence.id)
        )
        if sentence.topics:
            await SentenceTopic.insert(
                *(
                    SentenceTopic(
                        key=f"{response_id}:{position}:{topic.key}",
                        response=response_id,
                        sentence=stored[0]["id"],
                        position=position,
                        topic=topic.key,
                        score=round(topic.score, 4),
                        sentiment_label=label,
                        analysed_at=now,
                    )
                    for topic in sentence.topics
                )
            )


async def _responses(response_ids: list[int], *, pending_only: bool) -> list[dict[str, Any]]:
    if not response_ids:
        return []
    query = SurveyResponse.select(
        SurveyResponse.id,
        SurveyResponse.support_case,
        SurveyResponse.nps,
        SurveyResponse.csat,
        SurveyResponse.comment,
    ).where(SurveyResponse.id.is_in(response_ids))
    if pending_only:
        query = query.where(SurveyResponse.status == "pending")
    return await query.order_by(SurveyResponse.id)
