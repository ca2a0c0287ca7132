"""Teams and owners: who follows up on negative responses."""

from __future__ import annotations

import builtins  # `list` names a handler (its operationId) in the class below

from litestar import Controller, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from aftercare import directory
from aftercare.accounts import Caller
from aftercare.clock import Clock
from aftercare.directory import NewOwner, NewTeam, OwnerChanges, OwnerView, TeamView
from aftercare.settings import Settings
from api.auth import ADMINS, CURATORS, EVERYONE
from api.openapi import problems
from api.params import Id
from api.problems import StrictBody

MAX_DIRECTORY_BODY = 16 * 1024
NO_OWNER = "No owner with this id"
UNKNOWN_TEAM = "`team` names no team: create it first"


class TeamController(Controller):
    path = "/teams"
    tags = ["teams"]

    @get("/", summary="All teams", guards=[EVERYONE])
    async def list(self) -> builtins.list[TeamView]:
        return await directory.list_teams()

    @post(
        "/",
        summary="Create a team",
        guards=[ADMINS],
        request_max_body_size=MAX_DIRECTORY_BODY,
        responses=problems({409: "A team with this slug exists"}),
        dto=StrictBody[NewTeam],
        return_dto=None,
    )
    async def create(self, data: JSONBody[NewTeam], clock: NamedDependency[Clock]) -> TeamView:
        return await directory.create_team(data, now=clock())

    @get(
        "/{slug:str}",
        summary="One team",
        guards=[EVERYONE],
        responses=problems({404: "No team with this slug"}),
    )
    async def read(self, slug: FromPath[str]) -> TeamView:
        return await directory.get_team(slug)


class OwnerController(Controller):
    path = "/owners"
    tags = ["owners"]

    @get(
        "/",
        summary="All owners, optionally of one team (a lead or owner: the people of their teams)",
        guards=[EVERYONE],
    )
    async def list(
        self, caller: NamedDependency[Caller], team: FromQuery[str | None] = None
    ) -> builtins.list[OwnerView]:
        return await directory.list_owners(team, within_teams=caller.within_teams)

    @post(
        "/",
        summary="Create an owner",
        guards=[ADMINS],
        request_max_body_size=MAX_DIRECTORY_BODY,
        responses=problems({409: "An owner with this email exists", 422: UNKNOWN_TEAM}),
        dto=StrictBody[NewOwner],
        return_dto=None,
    )
    async def create(self, data: JSONBody[NewOwner], clock: NamedDependency[Clock]) -> OwnerView:
        return await directory.create_owner(data, now=clock())

    @get(
        "/{owner_id:int}",
        summary="One owner (a lead or owner: of their teams)",
        guards=[EVERYONE],
        responses=problems({404: NO_OWNER}),
    )
    async def read(self, owner_id: Id, caller: NamedDependency[Caller]) -> OwnerView:
        return await directory.get_owner(owner_id, within_teams=caller.within_teams)

    @patch(
        "/{owner_id:int}",
        summary="Change an owner's name, team, active flag or away time",
        description="Deactivating an owner, or marking them away until a later time, moves "
        "their open tasks to the team's other available owners (fewest open tasks first), "
        "each move an `owner_id_changed` event on the task. A lead may change only the "
        "`active` flag and away time of the people of their teams.",
        guards=[CURATORS],
        request_max_body_size=MAX_DIRECTORY_BODY,
        responses=problems(
            {
                403: "Neither an admin nor a lead, or a lead changing more than availability",
                404: NO_OWNER,
                422: UNKNOWN_TEAM,
            }
        ),
        dto=StrictBody[OwnerChanges],
        return_dto=None,
    )
    async def update(
        self,
        owner_id: Id,
        data: JSONBody[OwnerChanges],
        clock: NamedDependency[Clock],
        caller: NamedDependency[Caller],
        settings: NamedDependency[Settings],
    ) -> OwnerView:
        return await directory.update_owner(
            owner_id,
            data,
            now=clock(),
            actor=caller.actor,
            fallback_owner_email=settings.fallback_owner_email,
            within_teams=caller.within_teams,
        )
