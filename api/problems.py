"""Every error leaves the API as RFC 9457 problem details; none loses or half-writes data."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, Generic, TypeVar

import msgspec
from litestar import Request, Response
from litestar._openapi.schema_generation import SchemaCreator
from litestar.dto import MsgspecDTO
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.spec import Reference, Schema
from litestar.plugins.problem_details import ProblemDetailsException
from litestar.types import ExceptionHandler
from litestar.typing import FieldDefinition

from aftercare.db import (
    UNREACHABLE_RETRY_AFTER_SECONDS,
    is_database_busy,
    is_database_unreachable,
    is_unique_violation,
)
from aftercare.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    LinkExpired,
    NotFound,
)
from aftercare.fields import TEXT_PATTERN, TEXT_RULE
from api.request_id import request_id
from web.access_log import mask_survey_tokens

log = logging.getLogger(__name__)

T = TypeVar("T")
StructT = TypeVar("StructT", bound=msgspec.Struct)

PROBLEM_TYPE_BASE = "urn:aftercare:problem:"

_STATUS_BY_ERROR: list[tuple[type[DomainError], int]] = [
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (LinkExpired, 410),
    # Well-formed input that names something missing or breaks a configured limit.
    (InvalidInput, 422),
    (DomainError, 400),
]


class FieldProblem(msgspec.Struct, frozen=True, kw_only=True):
    field: str
    message: str
    # "path" or "query" for a parameter; absent for a body field.
    source: str | msgspec.UnsetType = msgspec.UNSET


class ProblemDetails(msgspec.Struct, frozen=True, kw_only=True):
    """The body of every error answer (RFC 9457), as the OpenAPI document shows it."""

    status: int
    title: str
    detail: str
    type: str | msgspec.UnsetType = msgspec.UNSET
    errors: list[FieldProblem] | msgspec.UnsetType = msgspec.UNSET
    # On a 5xx: the id the server log has the traceback under.
    request_id: str | msgspec.UnsetType = msgspec.UNSET


def domain_problem(error: DomainError) -> ProblemDetailsException:
    status = next(code for kind, code in _STATUS_BY_ERROR if isinstance(error, kind))
    extra: dict[str, Any] | None = None
    if isinstance(error, InvalidInput):
        extra = {"errors": [{"field": error.field, "message": error.detail}]}
    return ProblemDetailsException(
        status_code=status,
        title=error.title,
        detail=error.detail,
        type_=PROBLEM_TYPE_BASE + _slug(error.title),
        extra=extra,
    )


def storage_problem(error: BaseException) -> ProblemDetailsException | None:
    """The answer to a raw database error both engines raise, or None for an unexpected one."""
    if is_unique_violation(error):
        return ProblemDetailsException(
            status_code=409, title="Conflict", detail="This record already exists."
        )
    if is_database_busy(error):
        return ProblemDetailsException(
            status_code=503,
            title="Busy",
            detail="The database is busy; nothing was stored. Please retry.",
            headers={"Retry-After": "1"},
        )
    if is_database_unreachable(error):
        return ProblemDetailsException(
            status_code=503,
            title="Service unavailable",
            detail="The database cannot be reached just now. Please retry in a minute.",
            type_=PROBLEM_TYPE_BASE + "database-unavailable",
            headers={"Retry-After": str(UNREACHABLE_RETRY_AFTER_SECONDS)},
        )
    return None


def unexpected_problem(
    request: Request[Any, Any, Any], error: Exception
) -> ProblemDetailsException:
    """The answer to an error no other handler took: a storage problem, else a 500.

    Every 5xx is logged with its traceback and the request id, which its body names too.
    """
    problem = storage_problem(error) or _server_problem(error)
    status = problem.status_code
    if status >= 500:
        rid = request_id(request.scope)
        where = f"{request.method} {mask_survey_tokens(request.url.path)}"
        if status == 500:
            log.exception("%s failed [request_id=%s]", where, rid, exc_info=error)
        else:
            log.warning("%s answered %d [request_id=%s]", where, status, rid, exc_info=error)
        problem.extra = {"request_id": rid}
    return problem


def unexpected_error_handlers(
    render: Callable[[Request[Any, Any, Any], Exception], Response[Any]] | None = None,
) -> dict[int | type[Exception], ExceptionHandler]:
    """Handlers for every 5xx, and so (Litestar's rule) for any exception without a handler.

    `render` turns the problem into a page (survey pages); without it, problem details.
    """

    def handle(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
        problem = unexpected_problem(request, error)
        return render(request, problem) if render else problem.to_response(request)

    return {status.value: handle for status in HTTPStatus if status >= 500}


def invalid_parameters(error: ValidationException) -> ProblemDetailsException:
    """A path or query parameter out of range or with control characters: 400 naming it."""
    items = error.extra if isinstance(error.extra, list) else []
    errors = [
        {
            "field": str(item["key"]),
            "source": str(getattr(item.get("source"), "value", item.get("source", ""))),
            "message": item["message"],
        }
        for item in items
        if isinstance(item, dict) and "key" in item and "message" in item
    ]
    if not errors:
        return ProblemDetailsException(status_code=400, title="Bad request", detail=error.detail)
    return ProblemDetailsException(
        status_code=400,
        title="Invalid parameter",
        detail="; ".join(f"{item['field']}: {item['message']}" for item in errors),
        type_=PROBLEM_TYPE_BASE + "invalid-parameter",
        extra={"errors": errors},
    )


def invalid_parameters_response(
    request: Request[Any, Any, Any], error: ValidationException
) -> Response[Any]:
    return invalid_parameters(error).to_response(request)


def bad_body(detail: str, errors: list[dict[str, str]] | None = None) -> ProblemDetailsException:
    return ProblemDetailsException(
        status_code=400,
        title="Invalid request body",
        detail=detail,
        type_=PROBLEM_TYPE_BASE + "invalid-request-body",
        extra={"errors": errors} if errors else None,
    )


def _number(literal: str) -> int | float:
    value = float(literal)
    return int(value) if value.is_integer() else value


# To JSON Schema, and so to the OpenAPI document, 1.0 is the integer 1: an int field takes it.
_JSON = msgspec.json.Decoder(float_hook=_number)


def decode_body(body: bytes, target: type[T]) -> T:
    """Decode a JSON body strictly: "7" and 7.5 are not integers, unknown fields are errors.

    Litestar's own decoding is lax about types; surveys and webhooks deserve exact answers.
    """
    try:
        return msgspec.convert(_JSON.decode(body), type=target, strict=True)
    except msgspec.ValidationError as error:
        raise _invalid_field(str(error)) from error
    except msgspec.DecodeError as error:
        raise bad_body(f"Malformed JSON: {error}") from error
    except UnicodeDecodeError as error:
        raise bad_body("The body is not valid UTF-8.") from error
    except RecursionError as error:
        raise bad_body("The JSON is nested too deeply.") from error


class StrictBody(MsgspecDTO[StructT], Generic[StructT]):
    """A request body decoded with `decode_body`, and documented in OpenAPI from its Struct
    (api/openapi.py swaps in msgspec's own JSON Schema of it)."""

    def decode_bytes(self, value: bytes) -> StructT:
        return decode_body(value, self.model_type)

    @classmethod
    def create_openapi_schema(
        cls, field_definition: FieldDefinition, handler_id: str, schema_creator: SchemaCreator
    ) -> Reference | Schema:
        # Document the Struct itself: the DTO's generated transfer model cannot carry
        # constraints such as a pattern on an optional string.
        return schema_creator.for_field_definition(FieldDefinition.from_annotation(cls.model_type))


# msgspec ends a validation error with the JSON path of the field: "... - at `$.customer.email`".
_AT_FIELD = re.compile(r"^(?P<message>.*) - at `\$\.?(?P<field>[^`]*)`$", re.DOTALL)


def _invalid_field(error: str) -> ProblemDetailsException:
    found = _AT_FIELD.match(error)
    if found is None:
        return bad_body(error)
    message = found["message"].replace(f"Expected `str` matching regex {TEXT_PATTERN!r}", TEXT_RULE)
    field = found["field"]
    return bad_body(f"{field}: {message}", [{"field": field, "message": message}])


def _server_problem(error: Exception) -> ProblemDetailsException:
    if isinstance(error, HTTPException):
        return ProblemDetailsException(
            status_code=error.status_code,
            title=HTTPStatus(error.status_code).phrase,
            detail=error.detail,
            headers=error.headers,
        )
    return ProblemDetailsException(
        status_code=500,
        title="Internal server error",
        detail="Something went wrong on our side. Please quote the request id if you report it.",
        type_=PROBLEM_TYPE_BASE + "internal-error",
    )


def _slug(title: str) -> str:
    return title.lower().replace(" ", "-")
