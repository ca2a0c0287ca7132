"""Discovered themes: recurring things customers say, found by clustering stored sentences.

A scheduled run clusters the sentence embeddings stored at analysis time (never re-embedding),
labels each cluster, and keeps it; a lead can promote a theme into the topic taxonomy.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Annotated, Any, Protocol

import msgspec

from aftercare.clock import Clock
from aftercare.db import write_transaction
from aftercare.errors import Conflict, NotFound
from aftercare.fields import Text
from aftercare.outbox import add_message
from aftercare.tables import CommentSentence, DiscoveredTheme, DiscoveryRun
from aftercare.topics import NewTopic, TopicKey, TopicView, create_topic

DISCOVER_THEMES = "discover_themes"
# Enough for months of comments on one CPU job; older sentences matter less for "recent".
MAX_SENTENCES_PER_RUN = 50_000


class FoundTheme(Protocol):
    @property
    def label(self) -> str: ...

    @property
    def terms(self) -> Sequence[str]: ...

    @property
    def size(self) -> int: ...

    @property
    def representatives(self) -> Sequence[str]: ...


class ThemeFinder(Protocol):
    """Clusters sentences given their stored float16 embeddings (see nlp.discovery)."""

    def __call__(self, texts: list[str], embeddings: list[bytes]) -> Sequence[FoundTheme]: ...


class ThemeView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    run_id: int
    label: str
    terms: list[str]
    size: int
    representatives: list[str]
    promoted_topic: str | None
    created_at: dt.datetime


class PromoteTheme(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    key: TopicKey
    # Empty or missing: the theme's label.
    name: Annotated[Text, msgspec.Meta(max_length=200)] | None = None


async def schedule_discovery(*, clock: Clock, every: dt.timedelta, window: dt.timedelta) -> bool:
    """Queue a discovery run when the last one started longer than `every` ago."""
    now = clock()
    async with write_transaction():
        last = (
            await DiscoveryRun.select(DiscoveryRun.started_at)
            .order_by(DiscoveryRun.started_at, ascending=False)
            .first()
        )
        if last is not None and last["started_at"] > now - every:
            return False
        run = await DiscoveryRun.insert(DiscoveryRun(started_at=now, since=now - window)).returning(
            DiscoveryRun.id
        )
        await add_message(DISCOVER_THEMES, {"run_id": run[0]["id"]}, now)
    return True


async def start_discovery_run(*, clock: Clock, window: dt.timedelta) -> int:
    """A run started now (for the CLI, which runs it at once)."""
    now = clock()
    rows = await DiscoveryRun.insert(DiscoveryRun(started_at=now, since=now - window)).returning(
        DiscoveryRun.id
    )
    return int(rows[0]["id"])


async def run_discovery(run_id: int, find: ThemeFinder, *, clock: Clock) -> list[ThemeView]:
    """Cluster the run's sentences and store its themes; a finished run is not run again."""
    run = await DiscoveryRun.select().where(DiscoveryRun.id == run_id).first()
    if run is None:
        raise NotFound(f"No discovery run with id {run_id}.")
    if run["finished_at"] is None:
        sentences = await (
            CommentSentence.select(CommentSentence.text, CommentSentence.embedding)
            .where(CommentSentence.analysed_at >= run["since"])
            .order_by(CommentSentence.analysed_at, ascending=False)
            .limit(MAX_SENTENCES_PER_RUN)
        )
        found = find([row["text"] for row in sentences], [row["embedding"] for row in sentences])
        await _store_themes(run_id, found, len(sentences), clock())
    return await themes_of_run(run_id)


async def _store_themes(
    run_id: int, found: Sequence[FoundTheme], sentence_count: int, now: dt.datetime
) -> None:
    async with write_transaction():
        updated = (
            await DiscoveryRun.update(
                {
                    DiscoveryRun.finished_at: now,
                    DiscoveryRun.sentences: sentence_count,
                    DiscoveryRun.themes: len(found),
                }
            )
            .where(DiscoveryRun.id == run_id, DiscoveryRun.finished_at.is_null())
            .returning(DiscoveryRun.id)
        )
        if not updated:
            return  # another worker finished this run first
        for theme in found:
            await DiscoveredTheme.insert(
                DiscoveredTheme(
                    run=run_id,
                    label=theme.label[:200],
                    terms=msgspec.json.encode(list(theme.terms)).decode(),
                    size=theme.size,
                    representatives=msgspec.json.encode(list(theme.representatives)).decode(),
                    created_at=now,
                )
            )


async def themes_of_run(run_id: int) -> list[ThemeView]:
    rows = await (
        DiscoveredTheme.select(
            *DiscoveredTheme.all_columns(exclude=[DiscoveredTheme.promoted_topic]),
            DiscoveredTheme.promoted_topic.key.as_alias("promoted_topic"),
        )
        .where(DiscoveredTheme.run == run_id)
        .order_by(DiscoveredTheme.size, ascending=False)
    )
    return [_theme_view(row) for row in rows]


async def latest_themes() -> list[ThemeView]:
    """The themes of the most recent finished run (empty before the first run)."""
    run = (
        await DiscoveryRun.select(DiscoveryRun.id)
        .where(DiscoveryRun.finished_at.is_not_null())
        .order_by(DiscoveryRun.finished_at, ascending=False)
        .first()
    )
    return await themes_of_run(run["id"]) if run else []


async def promote_theme(theme_id: int, promotion: PromoteTheme, *, now: dt.datetime) -> TopicView:
    """Make a theme a topic of the taxonomy, with its representative sentences as examples."""
    theme = await DiscoveredTheme.select().where(DiscoveredTheme.id == theme_id).first()
    if theme is None:
        raise NotFound(f"No theme with id {theme_id}.")
    if theme["promoted_topic"] is not None:
        raise Conflict(f"Theme {theme_id} is already a topic.")
    examples = msgspec.json.decode(theme["representatives"], type=list[str])
    topic = await create_topic(
        NewTopic(
            key=promotion.key,
            name=promotion.name or theme["label"],
            description=f"Discovered theme: {theme['label']}",
            examples=[example[:300] for example in examples] or [theme["label"]],
        ),
        now=now,
        source="discovered",
    )
    await DiscoveredTheme.update({DiscoveredTheme.promoted_topic: topic.id}).where(
        DiscoveredTheme.id == theme_id
    )
    return topic


def _theme_view(row: dict[str, Any]) -> ThemeView:
    return ThemeView(
        id=row["id"],
        run_id=row["run"],
        label=row["label"],
        terms=msgspec.json.decode(row["terms"]),
        size=row["size"],
        representatives=msgspec.json.decode(row["representatives"]),
        promoted_topic=row["promoted_topic"],
        created_at=row["created_at"],
    )
