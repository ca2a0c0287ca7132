"""The topic taxonomy: named topics with a description and example phrases, editable by leads."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import msgspec

from aftercare.db import write_transaction
from aftercare.errors import Conflict, NotFound
from aftercare.fields import Text
from aftercare.tables import Topic

TopicKey = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
TopicName = Annotated[Text, msgspec.Meta(min_length=1, max_length=200)]
Description = Annotated[Text, msgspec.Meta(max_length=2000)]
Phrase = Annotated[Text, msgspec.Meta(min_length=1, max_length=300)]
Examples = Annotated[list[Phrase], msgspec.Meta(min_length=1, max_length=100)]


class NewTopic(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    key: TopicKey
    name: TopicName
    description: Description = ""
    examples: Examples


class TopicChanges(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    name: TopicName | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET
    examples: Examples | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET


class TopicView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    key: str
    name: str
    description: str
    examples: list[str]
    active: bool
    source: str
    created_at: dt.datetime
    updated_at: dt.datetime


TopicSource = Literal["default", "custom", "discovered"]


async def create_topic(
    topic: NewTopic, *, now: dt.datetime, source: TopicSource = "custom"
) -> TopicView:
    async with write_transaction():
        inserted = (
            await Topic.insert(_topic_row(topic, now, source))
            .on_conflict(target=Topic.key, action="DO NOTHING")
            .returning(Topic.id)
        )
    if not inserted:
        raise Conflict(f"A topic with key {topic.key!r} already exists.")
    return await get_topic(topic.key)


async def ensure_topics(defaults: Sequence[NewTopic], *, now: dt.datetime) -> int:
    """Seed the default taxonomy; topics that exist (perhaps edited) are left alone."""
    rows = [_topic_row(topic, now, "default") for topic in defaults]
    if not rows:
        return 0
    inserted = (
        await Topic.insert(*rows)
        .on_conflict(target=Topic.key, action="DO NOTHING")
        .returning(Topic.id)
    )
    return len(inserted)


async def ensure_default_topics(*, now: dt.datetime) -> int:
    """Seed the default customer-service taxonomy that ships with the NLP package."""
    from nlp.topics import DEFAULT_TOPICS

    defaults = [
        NewTopic(
            key=topic.key,
            name=topic.name,
            description=topic.description,
            examples=list(topic.examples),
        )
        for topic in DEFAULT_TOPICS
    ]
    return await ensure_topics(defaults, now=now)


async def update_topic(key: str, changes: TopicChanges, *, now: dt.datetime) -> TopicView:
    values: dict[Any, Any] = {Topic.updated_at: now}
    if changes.name is not msgspec.UNSET:
        values[Topic.name] = changes.name
    if changes.description is not msgspec.UNSET:
        values[Topic.description] = changes.description
    if changes.examples is not msgspec.UNSET:
        values[Topic.examples] = msgspec.json.encode(changes.examples).decode()
    if changes.active is not msgspec.UNSET:
        values[Topic.active] = changes.active
    async with write_transaction():
        updated = await Topic.update(values).where(Topic.key == key).returning(Topic.id)
    if not updated:
        raise NotFound(f"No topic with key {key!r}.")
    return await get_topic(key)


async def get_topic(key: str) -> TopicView:
    row = await Topic.select().where(Topic.key == key).first()
    if row is None:
        raise NotFound(f"No topic with key {key!r}.")
    return _topic_view(row)


async def list_topics(*, active_only: bool = False) -> list[TopicView]:
    query = Topic.select()
    if active_only:
        query = query.where(Topic.active.eq(True))
    return [_topic_view(row) for row in await query.order_by(Topic.key)]


def _topic_row(topic: NewTopic, now: dt.datetime, source: TopicSource) -> Topic:
    return Topic(
        key=topic.key,
        name=topic.name,
        description=topic.description,
        examples=msgspec.json.encode(topic.examples).decode(),
        active=True,
        source=source,
        created_at=now,
        updated_at=now,
    )


def _topic_view(row: dict[str, Any]) -> TopicView:
    return TopicView(
        id=row["id"],
        key=row["key"],
        name=row["name"],
        description=row["description"],
        examples=msgspec.json.decode(row["examples"]),
        active=bool(row["active"]),
        source=row["source"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
