"""Team memberships: who is in which teams. A person may be in several teams; every rule that
asks "is this person of that team" (routing, reassigning, what a caller sees) asks here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable

from aftercare.errors import InvalidInput
from aftercare.tables import Team, TeamMembership


async def team_ids_for(slugs: Iterable[str], *, field: str = "teams") -> list[int]:
    """The ids of the teams these slugs name, in order; InvalidInput names an unknown one."""
    wanted = list(dict.fromkeys(slugs))
    if not wanted:
        return []
    rows = await Team.select(Team.id, Team.slug).where(Team.slug.is_in(wanted))
    ids = {row["slug"]: int(row["id"]) for row in rows}
    for slug in wanted:
        if slug not in ids:
            raise InvalidInput(field, f"no team with slug {slug!r}; create it first")
    return [ids[slug] for slug in wanted]


async def set_teams(owner_id: int, team_ids: Collection[int], *, now: dt.datetime) -> None:
    """Make `team_ids` the person's teams (replacing the set); call inside a write
    transaction. Their tasks stay where they are."""
    await TeamMembership.delete().where(
        TeamMembership.owner == owner_id, TeamMembership.team.not_in(list(team_ids) or [-1])
    )
    for team_id in team_ids:
        await TeamMembership.insert(
            TeamMembership(
                key=_key(owner_id, team_id), owner=owner_id, team=team_id, created_at=now
            )
        ).on_conflict(target=TeamMembership.key, action="DO NOTHING")


async def team_ids_of(owner_id: int) -> frozenset[int]:
    rows = await TeamMembership.select(TeamMembership.team).where(TeamMembership.owner == owner_id)
    return frozenset(int(row["team"]) for row in rows)


async def team_slugs_of(owner_ids: list[int]) -> dict[int, list[str]]:
    """Each person's team slugs, sorted (people in no team are absent)."""
    if not owner_ids:
        return {}
    rows = (
        await TeamMembership.select(TeamMembership.owner, TeamMembership.team.slug.as_alias("slug"))
        .where(TeamMembership.owner.is_in(owner_ids))
        .order_by(TeamMembership.team.slug)
    )
    slugs: dict[int, list[str]] = {}
    for row in rows:
        slugs.setdefault(int(row["owner"]), []).append(row["slug"])
    return slugs


async def member_ids(team_ids: Collection[int]) -> list[int]:
    """The people in any of these teams."""
    if not team_ids:
        return []
    rows = await TeamMembership.select(TeamMembership.owner).where(
        TeamMembership.team.is_in(list(team_ids))
    )
    return sorted({int(row["owner"]) for row in rows})


async def is_member(owner_id: int, team_id: int) -> bool:
    return bool(
        await TeamMembership.exists().where(
            TeamMembership.owner == owner_id, TeamMembership.team == team_id
        )
    )


def _key(owner_id: int, team_id: int) -> str:
    return f"{owner_id}:{team_id}"
