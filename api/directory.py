"""Teams and owners: who follows up on negative responses."""

from __future__ import annotations

from litestar import Controller, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from aftercare import directory
from aftercare.clock import Clock
from aftercare.directory import NewOwner, NewTeam, OwnerChanges, OwnerView, TeamView
from aftercare.settings import Settings
from aftercare.tasks import Actor
from api.openapi import problems
from api.params import Id
from api.problems import StrictBody

MAX_DIRECTORY_BODY = 16 * 1024
NO_OWNER = "No owner with this id"
UNKNOWN_TEAM = "`team` names no team: create it first"


class TeamController(Controller):
    path = "/teams"
    tags = ["teams"]

    @get("/", summary="All teams")
    async def list(self) -> list[TeamView]:
        return await directory.list_teams()

    @post(
        "/",
        summary="Create a team",
        request_max_body_size=MAX_DIRECTORY_BODY,
        responses=problems({409: "A team with this slug exists"}),
        dto=StrictBody[NewTeam],
        return_dto=None,
    )
    async def create(self, data: JSONBody[NewTeam], clock: NamedDependency[Clock]) -> TeamView:
        return await directory.create_team(data, now=clock())

    @get("/{slug:str}", summary="One team", responses=problems({404: "No team with this slug"}))
    async def read(self, slug: FromPath[str]) -> TeamView:
        return await directory.get_team(slug)


class OwnerController(Controller):
    path = "/owners"
    tags = ["owners"]

    @get("/", summary="All owners, optionally of one team")
    async def list(self, team: FromQuery[str | None] = None) -> list[OwnerView]:
        return await directory.list_owners(team)

    @post(
        "/",
        summary="Create an owner",
        request_max_body_size=MAX_DIRECTORY_BODY,
        responses=problems({409: "An owner with this email exists", 422: UNKNOWN_TEAM}),
        dto=StrictBody[NewOwner],
        return_dto=None,
    )
    async def create(self, data: JSONBody[NewOwner], clock: NamedDependency[Clock]) -> OwnerView:
        return await directory.create_owner(data, now=clock())

    @get("/{owner_id:int}", summary="One owner", responses=problems({404: NO_OWNER}))
    async def read(self, owner_id: Id) -> OwnerView:
        return await directory.get_owner(owner_id)

    @patch(
        "/{owner_id:int}",
        summary="Change an owner's name, team, active flag or away time",
        description="Deactivating an owner, or marking them away until a later time, moves "
        "their open tasks to the team's other available owners (fewest open tasks first), "
        "each move an `owner_id_changed` event on the task.",
        request_max_body_size=MAX_DIRECTORY_BODY,
        responses=problems({404: NO_OWNER, 422: UNKNOWN_TEAM}),
        dto=StrictBody[OwnerChanges],
        return_dto=None,
    )
    async def update(
        self,
        owner_id: Id,
        data: JSONBody[OwnerChanges],
        clock: NamedDependency[Clock],
        actor: NamedDependency[Actor],
        settings: NamedDependency[Settings],
    ) -> OwnerView:
        return await directory.update_owner(
            owner_id,
            data,
            now=clock(),
            actor=actor,
            fallback_owner_email=settings.fallback_owner_email,
        )
