"""Root causes: why a complaint happened, named when its follow-up task is resolved.

A configurable list, seeded with the categories most support organisations start from; leads
add their own. Recurring causes are what the reports will count.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

from aftercare.db import write_transaction
from aftercare.errors import Conflict
from aftercare.fields import Text
from aftercare.tables import RootCause

RootCauseKey = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
RootCauseName = Annotated[Text, msgspec.Meta(min_length=1, max_length=200)]

DEFAULT_ROOT_CAUSES: tuple[tuple[str, str], ...] = (
    ("product_defect", "Product defect"),
    ("process", "Process"),
    ("agent_behaviour", "Agent behaviour"),
    ("policy", "Policy"),
    ("billing", "Billing"),
    ("communication", "Communication"),
    ("other", "Other"),
)


class NewRootCause(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    key: RootCauseKey
    name: RootCauseName


class RootCauseView(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    name: str
    active: bool


async def list_root_causes(*, active_only: bool = False) -> list[RootCauseView]:
    query = RootCause.select(RootCause.key, RootCause.name, RootCause.active)
    if active_only:
        query = query.where(RootCause.active.eq(True))
    rows = await query.order_by(RootCause.position).order_by(RootCause.id)
    return msgspec.convert(rows, list[RootCauseView])


async def create_root_cause(cause: NewRootCause, *, now: dt.datetime) -> RootCauseView:
    async with write_transaction():
        inserted = await _insert(cause.key, cause.name, now, position=1000)
    if not inserted:
        raise Conflict(f"A root cause with key {cause.key!r} already exists.")
    return RootCauseView(key=cause.key, name=cause.name, active=True)


async def ensure_default_root_causes(*, now: dt.datetime) -> None:
    """Seed the default list; causes that exist (perhaps renamed or retired) stay as they are."""
    async with write_transaction():
        for position, (key, name) in enumerate(DEFAULT_ROOT_CAUSES):
            await _insert(key, name, now, position=position)


async def _insert(key: str, name: str, now: dt.datetime, *, position: int) -> bool:
    inserted = (
        await RootCause.insert(
            RootCause(key=key, name=name, active=True, position=position, created_at=now)
        )
        .on_conflict(target=RootCause.key, action="DO NOTHING")
        .returning(RootCause.id)
    )
    return bool(inserted)
