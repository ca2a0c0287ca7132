"""Signing in and out on the web: email and password, throttled (aftercare.sign_in)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from aftercare.clock import Clock
from aftercare.sign_in import SignInRefused, TooManySignIns, sign_in
from web.signed_in import current_caller, local_path, start_session

MAX_SIGN_IN_BODY = 16 * 1024
NextPath = Annotated[str, QueryParameter(name="next", max_length=2000)]


class SignInController(Controller):
    include_in_schema = False

    @get("/login")
    async def form(
        self,
        request: Request[Any, Any, Any],
        next_path: NextPath = "",
        signed_out: FromQuery[bool] = False,
    ) -> Template | Redirect:
        if await current_caller(request) is not None:
            return Redirect(local_path(next_path), status_code=HTTP_303_SEE_OTHER)
        notice = "You are signed out." if signed_out else ""
        return _sign_in_form(next_path=next_path, notice=notice)

    @post("/login", request_max_body_size=MAX_SIGN_IN_BODY)
    async def submit(
        self, request: Request[Any, Any, Any], clock: NamedDependency[Clock]
    ) -> Template | Redirect:
        form = await request.form()
        email, password = str(form.get("email", "")), str(form.get("password", ""))
        next_path = str(form.get("next", ""))
        client_ip = request.client.host if request.client else ""
        now = clock()
        try:
            caller = await sign_in(email, password, client_ip=client_ip, now=now)
        except TooManySignIns as error:
            retry_after = {"Retry-After": str(error.retry_after_seconds)}
            return _sign_in_form(next_path, email, error.detail, status=429, headers=retry_after)
        except SignInRefused as error:
            return _sign_in_form(next_path, email, error.detail, status=400)
        start_session(request, caller, now)
        return Redirect(local_path(next_path), status_code=HTTP_303_SEE_OTHER)

    @post("/logout")
    async def sign_out(self, request: Request[Any, Any, Any]) -> Redirect:
        request.clear_session()
        return Redirect("/login?signed_out=true", status_code=HTTP_303_SEE_OTHER)


def _sign_in_form(
    next_path: str,
    email: str = "",
    error: str = "",
    *,
    notice: str = "",
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Template:
    return Template(
        "login.html",
        context={"next": next_path, "email": email, "error": error, "notice": notice},
        status_code=status,
        headers=headers,
    )
