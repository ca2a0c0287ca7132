"""Path and query parameters: ids within the database's range, and no control characters.

A parameter that breaks its documented format or range gets a 400 naming it; a well-formed
one that names nothing gets a 404.
"""

from __future__ import annotations

from typing import Annotated

from litestar.connection import ASGIConnection
from litestar.exceptions import ValidationException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import PathParameter, QueryParameter

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
