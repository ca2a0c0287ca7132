"""Who is signed in on the pages: the session holds a user id, the Caller is loaded fresh on
every request (a deactivated user is signed out at once)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote, urlsplit

from litestar import Request
from litestar.di import Provide
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.response import Redirect
from litestar.status_codes import HTTP_303_SEE_OTHER

from aftercare.accounts import Caller, Role, caller_for_user
from aftercare.fields import has_control_characters
from web.sessions import rotate_session_id

SESSION_USER = "user_id"
SESSION_SIGNED_IN_AT = "signed_in_at"
HOME_PAGE = "/inbox"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class SignInRequired(NotAuthorizedException):
    """Not signed in: the page router answers with a redirect to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__("Please sign in.")
        self.next_path = next_path


def start_session(request: Request[Any, Any, Any], caller: Caller, now: dt.datetime) -> None:
    """Sign `caller` in: a new session id, holding only who and since when."""
    rotate_session_id(request)
    request.set_session({SESSION_USER: caller.user_id, SESSION_SIGNED_IN_AT: now.isoformat()})


async def current_caller(request: Request[Any, Any, Any]) -> Caller | None:
    """The signed-in, active user, or None (and then any session is cleared)."""
    session = request.scope.get("session")
    user_id = session.get(SESSION_USER) if isinstance(session, dict) else None
    caller = await caller_for_user(user_id) if isinstance(user_id, int) else None
    if caller is None and session:
        request.clear_session()
    return caller


async def provide_signed_in_caller(request: Request[Any, Any, Any]) -> Caller:
    """The `caller` of page handlers: the signed-in user, else a redirect to the sign-in
    page; a viewer may read pages but every form post is refused (403)."""
    caller = await current_caller(request)
    if caller is None:
        # After signing in, a form post's page comes back, not the post's own address.
        url = (
            request.url
            if request.method in READ_METHODS
            else urlsplit(request.headers.get("referer", ""))
        )
        raise SignInRequired(url.path + ("?" + url.query if url.query else ""))
    if request.method not in READ_METHODS and not caller.may_change:
        raise PermissionDeniedException(f"A {caller.role} may read these pages, not change them.")
    return caller


def signed_in_with_role(*roles: Role) -> Provide:
    """A `caller` dependency for pages only some roles may open, e.g. `signed_in_with_role(
    "admin")`: others signed in get 403."""

    async def provide(request: Request[Any, Any, Any]) -> Caller:
        caller = await provide_signed_in_caller(request)
        if caller.role not in roles:
            raise PermissionDeniedException("This page is not open to your role.")
        return caller

    return Provide(provide)


def redirect_to_sign_in(request: Request[Any, Any, Any], error: SignInRequired) -> Redirect:
    """The answer of a page that needs a signed-in user, to anyone else."""
    return Redirect(
        "/login?next=" + quote(error.next_path, safe="/"), status_code=HTTP_303_SEE_OTHER
    )


def local_path(candidate: str) -> str:
    """`candidate` when it is a path on this site, else the home page: never an open redirect."""
    parts = urlsplit(candidate)
    local = (
        candidate.startswith("/")
        and not candidate.startswith(("//", "/\\"))
        and not parts.scheme
        and not parts.netloc
        and "\\" not in candidate
        and not has_control_characters(candidate)
        and not any(char.isspace() for char in candidate)
    )
    return candidate if local else HOME_PAGE
