"""Teams and the people who work their follow-up tasks (owners, leads, viewers, admins)."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Annotated, Any

import msgspec

from aftercare.accounts import Role
from aftercare.db import write_transaction
from aftercare.errors import Conflict, Forbidden, NotFound
from aftercare.fields import Email, Text
from aftercare.routing import open_task_counts
from aftercare.settings import SettingsError
from aftercare.tables import Owner, Team
from aftercare.task_changes import move_open_tasks_away
from aftercare.tasks import Actor
from aftercare.teams import member_ids, set_teams, team_ids_for, team_slugs_of

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
    """A person for the owners API, which names one team (`team`: exactly this one team)."""

    email: Email
    name: Name
    team: Slug | None = None
    active: bool = True
    role: Role = "owner"

    def as_user(self) -> NewUser:
        return NewUser(
            email=self.email,
            name=self.name,
            role=self.role,
            teams=[self.team] if self.team else [],
            active=self.active,
        )


# A person may be in several teams; 50 is far more than anyone works in.
Teams = Annotated[list[Slug], msgspec.Meta(max_length=50)]


class NewUser(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A person for the users API: their role and teams."""

    email: Email
    name: Name
    role: Role = "owner"
    teams: Teams = []
    active: bool = True


class UserChanges(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A PATCH of a person: each field given is a change; `teams` replaces the set."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    role: Role | msgspec.UnsetType = msgspec.UNSET
    teams: Teams | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET
    # Away until then (null: back); like deactivating, it moves the person's open tasks.
    away_until: Instant | None | msgspec.UnsetType = msgspec.UNSET

    @property
    def only_availability(self) -> bool:
        """Whether it changes nothing but `active` and `away_until` (what a lead may change)."""
        return all(value is msgspec.UNSET for value in (self.name, self.role, self.teams))


class OwnerChanges(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A PATCH over the owners API: `team` (null: none) replaces every team with this one."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    team: Slug | None | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET
    role: Role | msgspec.UnsetType = msgspec.UNSET
    away_until: Instant | None | msgspec.UnsetType = msgspec.UNSET

    def as_user_changes(self) -> UserChanges:
        teams: list[str] | msgspec.UnsetType = msgspec.UNSET
        if self.team is not msgspec.UNSET:
            teams = [self.team] if self.team else []
        return UserChanges(
            name=self.name,
            role=self.role,
            teams=teams,
            active=self.active,
            away_until=self.away_until,
        )


class OwnerView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    email: str
    name: str
    # The first of `teams` (alphabetically), for clients of the one-team days.
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


async def create_owner(owner: NewOwner | NewUser, *, now: dt.datetime) -> OwnerView:
    """Create a person with their role and teams; Conflict when the email is taken."""
    user = owner.as_user() if isinstance(owner, NewOwner) else owner
    field = "team" if isinstance(owner, NewOwner) else "teams"
    async with write_transaction():
        team_ids = await team_ids_for(user.teams, field=field)
        inserted = (
            await Owner.insert(
                Owner(
                    email=user.email.lower(),
                    name=user.name,
                    active=user.active,
                    role=user.role,
                    created_at=now,
                )
            )
            .on_conflict(target=Owner.email, action="DO NOTHING")
            .returning(Owner.id)
        )
        if inserted:
            await set_teams(inserted[0]["id"], team_ids, now=now)
    if not inserted:
        raise Conflict(f"An owner with email {user.email!r} already exists.")
    return await get_owner(inserted[0]["id"])


async def update_owner(
    owner_id: int,
    changes: OwnerChanges | UserChanges,
    *,
    now: dt.datetime,
    actor: Actor,
    fallback_owner_email: str = "",
    within_teams: frozenset[int] | None = None,
) -> OwnerView:
    """Change a person; deactivating them or marking them away moves their open tasks to their
    teams' other available owners, in the same transaction. With `within_teams` (a lead's
    teams) the person must be in one of them (else NotFound), and only their availability
    (`active`, `away_until`) may change (else Forbidden). Changing teams moves no task."""
    user_changes = changes.as_user_changes() if isinstance(changes, OwnerChanges) else changes
    field = "team" if isinstance(changes, OwnerChanges) else "teams"
    values: dict[Any, Any] = {}
    async with write_transaction():
        if within_teams is not None:
            if owner_id not in await member_ids(within_teams):
                raise NotFound(f"No owner with id {owner_id}.")
            if not user_changes.only_availability:
                raise Forbidden("A lead may change only an owner's active flag and away time.")
        if user_changes.name is not msgspec.UNSET:
            values[Owner.name] = user_changes.name
        if user_changes.active is not msgspec.UNSET:
            values[Owner.active] = user_changes.active
        if user_changes.role is not msgspec.UNSET:
            values[Owner.role] = user_changes.role
        if user_changes.away_until is not msgspec.UNSET:
            values[Owner.away_until] = user_changes.away_until
        team_ids = None
        if user_changes.teams is not msgspec.UNSET:
            team_ids = await team_ids_for(user_changes.teams, field=field)
        if not await Owner.exists().where(Owner.id == owner_id):
            raise NotFound(f"No owner with id {owner_id}.")
        if team_ids is not None:
            await set_teams(owner_id, team_ids, now=now)
        if values:
            updated = (
                await Owner.update(values)
                .where(Owner.id == owner_id)
                .returning(Owner.active, Owner.away_until)
            )
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


async def list_owners(
    team: str | None = None, *, within_teams: frozenset[int] | None = None
) -> list[OwnerView]:
    """Everyone (or the members of `team`); with `within_teams`, only members of those."""
    query = Owner.select(Owner.id)
    if team is not None:
        query = query.where(Owner.id.is_in(await member_ids(await _ids_of_team(team)) or [-1]))
    if within_teams is not None:
        query = query.where(Owner.id.is_in(await member_ids(within_teams) or [-1]))
    rows = await query.order_by(Owner.email)
    return await _owner_views([row["id"] for row in rows])


async def get_owner(owner_id: int, *, within_teams: frozenset[int] | None = None) -> OwnerView:
    """One person; NotFound also when `within_teams` is given and they are in none of them."""
    if within_teams is not None and owner_id not in await member_ids(within_teams):
        raise NotFound(f"No owner with id {owner_id}.")
    views = await _owner_views([owner_id])
    if not views:
        raise NotFound(f"No owner with id {owner_id}.")
    return views[0]


async def _ids_of_team(slug: str) -> list[int]:
    """The team's id in a list; empty when no team has this slug (its member list is empty)."""
    rows = await Team.select(Team.id).where(Team.slug == slug)
    return [int(row["id"]) for row in rows]


async def _owner_views(owner_ids: list[int]) -> list[OwnerView]:
    if not owner_ids:
        return []
    rows = await (
        Owner.select(*Owner.all_columns(exclude=[Owner.team, Owner.password_hash]))
        .where(Owner.id.is_in(owner_ids))
        .order_by(Owner.email)
    )
    open_tasks = await open_task_counts(owner_ids)
    teams = await team_slugs_of(owner_ids)
    return [
        OwnerView(
            id=row["id"],
            email=row["email"],
            name=row["name"],
            team=teams[row["id"]][0] if row["id"] in teams else None,
            teams=teams.get(row["id"], []),
            role=row["role"],
            active=bool(row["active"]),
            away_until=row["away_until"],
            open_tasks=open_tasks.get(row["id"], 0),
            created_at=row["created_at"],
        )
        for row in rows
    ]


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
    members = await member_ids([team_id])
    if not members:
        return []
    rows = (
        await Owner.select(Owner.id, Owner.email, Owner.name)
        .where(Owner.id.is_in(members), Owner.role == "lead", Owner.active.eq(True))
        .order_by(Owner.id)
    )
    return msgspec.convert(rows, list[TeamLead])
