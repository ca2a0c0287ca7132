"""Pages for admins: the mail the product wrote, so the demo needs no mail server."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from litestar.response import Template

from aftercare.accounts import Caller
from aftercare.fields import MAX_ID
from aftercare.notifications import list_mail
from web.signed_in import signed_in_with_role

MAIL_PAGE_SIZE = 50


class AdminPageController(Controller):
    path = "/admin"
    include_in_schema = False
    dependencies = {"caller": signed_in_with_role("admin")}

    @get("/mail")
    async def mail(
        self,
        caller: NamedDependency[Caller],
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = MAIL_PAGE_SIZE,
        offset: Annotated[int, QueryParameter(ge=0, le=MAX_ID)] = 0,
    ) -> Template:
        page = await list_mail(limit=limit, offset=offset)
        return Template("admin_mail.html", context={"caller": caller, "page": page})
