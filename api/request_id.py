"""Every request has an id: the caller's X-Request-ID when it is sane, else a new one.

Every response carries it back, and every 5xx is logged with it, so a report can be matched
with its traceback.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from litestar import Request
from litestar.datastructures import Headers, MutableScopeHeaders
from litestar.types import Message, Scope

REQUEST_ID_HEADER = "X-Request-ID"
# Short and plain, so it is safe to log and to send back: UUIDs, hex, trace ids.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")
_STATE_KEY = "aftercare_request_id"


def request_id(scope: Scope) -> str:
    """The id of this request, chosen on first use and kept in the request's scope."""
    state: dict[str, Any] = scope.setdefault("state", {})
    known = state.get(_STATE_KEY)
    if isinstance(known, str):
        return known
    incoming = Headers.from_scope(scope).get(REQUEST_ID_HEADER, "")
    chosen = incoming if SANE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
    state[_STATE_KEY] = chosen
    return chosen


async def add_request_id_header(message: Message, scope: Scope) -> None:
    """A before-send hook: every response, errors and unknown paths included, names its id."""
    if message["type"] == "http.response.start":
        MutableScopeHeaders.from_message(message)[REQUEST_ID_HEADER] = request_id(scope)


def provide_request_id(request: Request[Any, Any, Any]) -> str:
    return request_id(request.scope)
