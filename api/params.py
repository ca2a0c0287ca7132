"""Path and query parameters: ids within the database's range, and no control characters.

A parameter that breaks its documented format or range gets a 400 naming it; a well-formed
one that names nothing gets a 404.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from litestar.connection import ASGIConnection
from litestar.exceptions import ValidationException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import PathParameter, QueryParameter

from aftercare.errors import InvalidInput
from aftercare.fields import MAX_ID, TEXT_RULE, has_control_characters

Id = Annotated[int, PathParameter(ge=1, le=MAX_ID, description=f"An id, 1 to {MAX_ID}")]
Offset = Annotated[
    int, QueryParameter(ge=0, le=MAX_ID, description="How many rows to skip (paging)")
]


def refuse_control_characters(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Guard: no path or query parameter may hold a control character (NUL breaks PostgreSQL)."""
    errors = [
        {"key": name, "source": source, "message": TEXT_RULE}
        for source, values in (
            ("path", list(connection.path_params.items())),
            ("query", connection.query_params.multi_items()),
        )
        for name, value in values
        if has_control_characters(str(value))
    ]
    if errors:
        raise ValidationException(detail="The address holds control characters.", extra=errors)


def refuse_unknown_query_parameters(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """Guard: a query parameter the operation does not take is an error, not silently ignored
    (a misspelt filter would otherwise widen a list without a word)."""
    known = set(handler.parsed_fn_signature.parameters)
    unknown = sorted({name for name in connection.query_params if name not in known})
    if unknown:
        raise ValidationException(
            detail=f"Unknown query parameter: {', '.join(unknown)}.",
            extra=[
                {"key": name, "source": "query", "message": "not a parameter of this operation"}
                for name in unknown
            ],
        )


# An ISO 8601 date or date-time in a query: strict, because "0.5" must not pass for a time.
_DATE = r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
_TIME = r"([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?"
_OFFSET = r"(Z|[+-]([01]\d|2[0-3]):[0-5]\d)"
INSTANT_PATTERN = rf"^{_DATE}(T{_TIME}{_OFFSET}?)?$"
# Optional by nature: a filter left out matches everything.
Instant = Annotated[
    str | None,
    QueryParameter(
        pattern=INSTANT_PATTERN,
        description="ISO 8601 date or date-time, e.g. 2026-12-01 or 2026-12-01T09:00:00Z (UTC "
        "unless an offset is given)",
    ),
]


def parse_instant(name: str, value: str | None) -> dt.datetime | None:
    """An Instant query parameter as an aware datetime: 400 when it breaks the pattern, 422
    when it fits but names no day on the calendar (2026-02-30)."""
    if value is None:
        return None
    if not re.fullmatch(INSTANT_PATTERN, value):
        raise ValidationException(
            detail=f"{name}: not an ISO 8601 date",
            extra=[{"key": name, "source": "query", "message": "not an ISO 8601 date"}],
        )
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(name, "no such date") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
