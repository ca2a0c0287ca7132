"""The mail the product wrote (kept, sent or failed), for admins."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.params import Parameter

from aftercare.notifications import MailPage, list_mail
from api.auth import ADMINS
from api.openapi import problems
from api.params import Offset


class MailController(Controller):
    path = "/mail"
    tags = ["mail"]

    @get(
        "/",
        summary="Messages to owners and leads, newest first, with their delivery status",
        guards=[ADMINS],
        responses=problems({403: "The caller is not an admin"}),
    )
    async def find(
        self, limit: Annotated[int, Parameter(ge=1, le=500)] = 50, offset: Offset = 0
    ) -> MailPage:
        return await list_mail(limit=limit, offset=offset)
