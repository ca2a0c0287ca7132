"""Teams and the owners who work their follow-up tasks."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Annotated, Any

import msgspec

from aftercare.accounts import Role
from aftercare.db import write_transaction
from aftercare.errors import Conflict, InvalidInput, NotFound
from aftercare.fields import Email, Text
from aftercare.routing import open_task_counts
from aftercare.settings import SettingsError
from aftercare.tables import Owner, Team
from aftercare.task_changes import move_open_tasks_away
from aftercare.tasks import Actor

Slug = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Name = Annotated[Text, msgspec.Meta(min_length=1, max_length=200)]
# A moment with its time zone: "away until 09:00" means nothing without one.
Instant = Annotated[dt.datetime, msgspec.Meta(tz=True)]


class NewTeam(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    slug: Slug
    name: Name


class TeamView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    slug: str
    name: str
    created_at: dt.datetime


class NewOwner(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    email: Email
    name: Name
    team: Slug | None = None
    active: bool = True
    role: Role = "owner"


# One team per person until memberships arrive; the list shape is the one that will stay.
Teams = Annotated[list[Slug], msgspec.Meta(max_length=1)]


class NewUser(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A person for the users API: their role and teams."""

    email: Email
    name: Name
    role: Role = "owner"
    teams: Teams = []
    active: bool = True

    def as_owner(self) -> NewOwner:
        team = self.teams[0] if self.teams else None
        return NewOwner(
            email=self.email, name=self.name, team=team, active=self.active, role=self.role
        )


class UserChanges(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    role: Role | msgspec.UnsetType = msgspec.UNSET
    teams: Teams | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET
    away_until: Instant | None | msgspec.UnsetType = msgspec.UNSET

    def as_owner_changes(self) -> OwnerChanges:
        team: str | None | msgspec.UnsetType = msgspec.UNSET
        if self.teams is not msgspec.UNSET:
            team = self.teams[0] if self.teams else None
        return OwnerChanges(
            name=self.name,
            role=self.role,
            team=team,
            active=self.active,
            away_until=self.away_until,
        )


class OwnerChanges(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    team: Slug | None | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET
    role: Role | msgspec.UnsetType = msgspec.UNSET
    # Away until then (null: back); like deactivating, it moves the owner's open tasks.
    away_until: Instant | None | msgspec.UnsetType = msgspec.UNSET


class OwnerView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    email: str
    name: str
    team: str | None
    teams: list[str]
    role: str
    active: bool
    away_until: dt.datetime | None
    open_tasks: int
    created_at: dt.datetime


async def create_team(team: NewTeam, *, now: dt.datetime) -> TeamView:
    async with write_transaction():
        inserted = (
            await Team.insert(Team(slug=team.slug, name=team.name, created_at=now))
            .on_conflict(target=Team.slug, action="DO NOTHING")
            .returning(*Team.all_columns())
        )
    if not inserted:
        raise Conflict(f"A team with slug {team.slug!r} already exists.")
    return msgspec.convert(inserted[0], TeamView)


async def list_teams() -> list[TeamView]:
    rows = await Team.select().order_by(Team.slug)
    return msgspec.convert(rows, list[TeamView])


async def get_team(slug: str) -> TeamView:
    row = await Team.select().where(Team.slug == slug).first()
    if row is None:
        raise NotFound(f"No team with slug {slug!r}.")
    return msgspec.convert(row, TeamView)


async def create_owner(owner: NewOwner, *, now: dt.datetime) -> OwnerView:
    async with write_transaction():
        team_id = await _team_id(owner.team)
        inserted = (
            await Owner.insert(
                Owner(
                    email=owner.email.lower(),
                    name=owner.name,
                    team=team_id,
                    active=owner.active,
                    role=owner.role,
                    created_at=now,
                )
            )
            .on_conflict(target=Owner.email, action="DO NOTHING")
            .returning(Owner.id)
        )
    if not inserted:
        raise Conflict(f"An owner with email {owner.email!r} already exists.")
    return await get_owner(inserted[0]["id"])


async def update_owner(
    owner_id: int,
    changes: OwnerChanges,
    *,
    now: dt.datetime,
    actor: Actor,
    fallback_owner_email: str = "",
) -> OwnerView:
    """Change an owner; deactivating them or marking them away moves their open tasks to the
    team's other available owners, in the same transaction."""
    values: dict[Any, Any] = {}
    async with write_transaction():
        if changes.name is not msgspec.UNSET:
            values[Owner.name] = changes.name
        if changes.active is not msgspec.UNSET:
            values[Owner.active] = changes.active
        if changes.role is not msgspec.UNSET:
            values[Owner.role] = changes.role
        if changes.team is not msgspec.UNSET:
            values[Owner.team] = await _team_id(changes.team)
        if changes.away_until is not msgspec.UNSET:
            values[Owner.away_until] = changes.away_until
        if values:
            updated = (
                await Owner.update(values)
                .where(Owner.id == owner_id)
                .returning(Owner.active, Owner.away_until)
            )
            if not updated:
                raise NotFound(f"No owner with id {owner_id}.")
            reason = _unavailable_because(updated[0], now)
            if reason and (Owner.active in values or Owner.away_until in values):
                await move_open_tasks_away(
                    owner_id,
                    reason=reason,
                    fallback_owner_email=fallback_owner_email,
                    actor=actor,
                    now=now,
                )
    return await get_owner(owner_id)


def _unavailable_because(owner: dict[str, Any], now: dt.datetime) -> str | None:
    if not owner["active"]:
        return "owner deactivated"
    if owner["away_until"] is not None and owner["away_until"] > now:
        return f"owner away until {owner['away_until'].isoformat()}"
    return None


async def list_owners(team: str | None = None) -> list[OwnerView]:
    query = Owner.select(Owner.id)
    if team is not None:
        query = query.where(Owner.team.slug == team)
    rows = await query.order_by(Owner.email)
    return await _owner_views([row["id"] for row in rows])


async def get_owner(owner_id: int) -> OwnerView:
    views = await _owner_views([owner_id])
    if not views:
        raise NotFound(f"No owner with id {owner_id}.")
    return views[0]


async def _owner_views(owner_ids: list[int]) -> list[OwnerView]:
    if not owner_ids:
        return []
    rows = await (
        Owner.select(
            *Owner.all_columns(exclude=[Owner.team, Owner.password_hash]),
            Owner.team.slug.as_alias("team"),
        )
        .where(Owner.id.is_in(owner_ids))
        .order_by(Owner.email)
    )
    open_tasks = await open_task_counts(owner_ids)
    return [
        OwnerView(
            id=row["id"],
            email=row["email"],
            name=row["name"],
            team=row["team"],
            teams=[row["team"]] if row["team"] else [],
            role=row["role"],
            active=bool(row["active"]),
            away_until=row["away_until"],
            open_tasks=open_tasks.get(row["id"], 0),
            created_at=row["created_at"],
        )
        for row in rows
    ]


async def _team_id(slug: str | None) -> int | None:
    if slug is None:
        return None
    row = await Team.select(Team.id).where(Team.slug == slug).first()
    if row is None:
        raise InvalidInput("team", f"no team with slug {slug!r}; create it first")
    return int(row["id"])


async def ensure_fallback_owner(email: str, *, now: dt.datetime) -> str:
    """Make AFTERCARE_FALLBACK_OWNER_EMAIL name an active owner: create it when missing.

    Returns what was done, for the start-up log; raises SettingsError for an address that is
    not an email or names a deactivated owner (tasks would silently get no owner).
    """
    if not email:
        return "no fallback owner configured: tasks of teams without an owner stay unassigned"
    try:
        owner = msgspec.convert(
            {"email": email, "name": email.split("@")[0] or email}, NewOwner, strict=True
        )
    except msgspec.ValidationError as error:
        raise SettingsError(f"AFTERCARE_FALLBACK_OWNER_EMAIL is not an email: {error}") from error
    existing = await Owner.select(Owner.id, Owner.active).where(Owner.email == email.lower())
    if existing and not existing[0]["active"]:
        raise SettingsError(
            f"AFTERCARE_FALLBACK_OWNER_EMAIL names {email}, a deactivated owner: reactivate "
            "them (PATCH /api/v1/owners/{id} with active true) or choose another address"
        )
    if existing:
        return f"fallback owner: {email}"
    with contextlib.suppress(Conflict):  # another process created it first
        await create_owner(owner, now=now)
    return f"fallback owner: created {email} (no team) from AFTERCARE_FALLBACK_OWNER_EMAIL"


class TeamLead(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    email: str
    name: str


async def team_leads(team_id: int) -> list[TeamLead]:
    """The active leads of a team: who hears of its overdue tasks."""
    rows = (
        await Owner.select(Owner.id, Owner.email, Owner.name)
        .where(Owner.team == team_id, Owner.role == "lead", Owner.active.eq(True))
        .order_by(Owner.id)
    )
    return msgspec.convert(rows, list[TeamLead])
