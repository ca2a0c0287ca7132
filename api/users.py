"""Users (admins; leads read their teams' people) and personal API tokens (admins, or the
user for themselves)."""

from __future__ import annotations

from litestar import Controller, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from aftercare import accounts, directory
from aftercare.accounts import Caller, IssuedToken, NewToken, TokenView
from aftercare.clock import Clock
from aftercare.directory import NewUser, OwnerView, UserChanges
from aftercare.settings import Settings
from aftercare.tasks import Actor
from api.auth import ADMINS, USER_READERS, require_admin_or_self
from api.openapi import problems
from api.params import Id
from api.problems import StrictBody

MAX_USER_BODY = 16 * 1024
NO_USER = "No user with this id"
ADMINS_ONLY = "The caller is not an admin"
ADMINS_OR_LEADS = "The caller is neither an admin nor a lead"


class UserController(Controller):
    path = "/users"
    tags = ["users"]

    @get(
        "/",
        summary="Everyone with an account (a lead: the people of their teams)",
        guards=[USER_READERS],
        responses=problems({403: ADMINS_OR_LEADS}),
    )
    async def find(self, caller: NamedDependency[Caller]) -> list[OwnerView]:
        return await directory.list_owners(within_teams=caller.within_teams)

    @post(
        "/",
        summary="Create a user with a role (admin, lead, owner, viewer) and teams",
        guards=[ADMINS],
        request_max_body_size=MAX_USER_BODY,
        responses=problems(
            {403: ADMINS_ONLY, 409: "A user with this email exists", 422: "A team is unknown"}
        ),
        dto=StrictBody[NewUser],
        return_dto=None,
    )
    async def create(self, data: JSONBody[NewUser], clock: NamedDependency[Clock]) -> OwnerView:
        return await directory.create_owner(data, now=clock())

    @get(
        "/{user_id:int}",
        summary="One user (a lead: of their teams)",
        guards=[USER_READERS],
        responses=problems({403: ADMINS_OR_LEADS, 404: NO_USER}),
    )
    async def read(self, user_id: Id, caller: NamedDependency[Caller]) -> OwnerView:
        return await directory.get_owner(user_id, within_teams=caller.within_teams)

    @patch(
        "/{user_id:int}",
        summary="Change a user's name, role, teams, active flag or away time",
        guards=[ADMINS],
        request_max_body_size=MAX_USER_BODY,
        responses=problems({403: ADMINS_ONLY, 404: NO_USER, 422: "A team is unknown"}),
        dto=StrictBody[UserChanges],
        return_dto=None,
    )
    async def change(
        self,
        user_id: Id,
        data: JSONBody[UserChanges],
        clock: NamedDependency[Clock],
        actor: NamedDependency[Actor],
        settings: NamedDependency[Settings],
    ) -> OwnerView:
        return await directory.update_owner(
            user_id,
            data,
            now=clock(),
            actor=actor,
            fallback_owner_email=settings.fallback_owner_email,
        )

    @post(
        "/{user_id:int}/tokens",
        summary="Issue a personal API token; the token is in this answer only",
        guards=[require_admin_or_self],
        request_max_body_size=MAX_USER_BODY,
        responses=problems({403: "Neither an admin nor this user", 404: NO_USER}),
        dto=StrictBody[NewToken],
        return_dto=None,
    )
    async def issue_token(
        self, user_id: Id, data: JSONBody[NewToken], clock: NamedDependency[Clock]
    ) -> Response[IssuedToken]:
        issued = await accounts.issue_token(user_id, data.name, now=clock())
        return Response(issued, status_code=201)

    @get(
        "/{user_id:int}/tokens",
        summary="A user's tokens: prefix, created, last used, revoked (never the token)",
        guards=[require_admin_or_self],
        responses=problems({403: "Neither an admin nor this user", 404: NO_USER}),
    )
    async def tokens(self, user_id: Id) -> list[TokenView]:
        return await accounts.list_tokens(user_id)

    @delete(
        "/{user_id:int}/tokens/{token_id:int}",
        summary="Revoke a token: it stops working at once",
        guards=[require_admin_or_self],
        status_code=200,
        responses=problems({403: "Neither an admin nor this user", 404: "No such token"}),
    )
    async def revoke(self, user_id: Id, token_id: Id, clock: NamedDependency[Clock]) -> TokenView:
        return await accounts.revoke_token(user_id, token_id, now=clock())
