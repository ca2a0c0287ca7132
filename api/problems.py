"""Every error leaves the API as RFC 9457 problem details; none loses or half-writes data."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec
from litestar._openapi.schema_generation import SchemaCreator
from litestar.dto import MsgspecDTO
from litestar.openapi.spec import Reference, Schema
from litestar.plugins.problem_details import ProblemDetailsException
from litestar.typing import FieldDefinition

from aftercare.db import is_database_busy, is_unique_violation
from aftercare.errors import Conflict, DomainError, InvalidInput, LinkExpired, NotFound

T = TypeVar("T")
StructT = TypeVar("StructT", bound=msgspec.Struct)

PROBLEM_TYPE_BASE = "urn:aftercare:problem:"

_STATUS_BY_ERROR: list[tuple[type[DomainError], int]] = [
    (NotFound, 404),
    (Conflict, 409),
    (LinkExpired, 410),
    (InvalidInput, 400),
    (DomainError, 400),
]


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


def storage_problem(error: Exception) -> ProblemDetailsException:
    """Map the raw database errors both engines raise; anything else stays a 500."""
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
    raise error


def bad_body(detail: str) -> ProblemDetailsException:
    return ProblemDetailsException(
        status_code=400,
        title="Invalid request body",
        detail=detail,
        type_=PROBLEM_TYPE_BASE + "invalid-request-body",
    )


def decode_body(body: bytes, target: type[T]) -> T:
    """Decode a JSON body strictly: "7" is not 7, unknown fields are errors.

    Litestar's own decoding is lax about types; surveys and webhooks deserve exact answers.
    """
    try:
        return msgspec.json.decode(body, type=target, strict=True)
    except msgspec.ValidationError as error:
        raise bad_body(str(error)) from error
    except msgspec.DecodeError as error:
        raise bad_body(f"Malformed JSON: {error}") from error
    except UnicodeDecodeError as error:
        raise bad_body("The body is not valid UTF-8.") from error
    except RecursionError as error:
        raise bad_body("The JSON is nested too deeply.") from error


class StrictBody(MsgspecDTO[StructT], Generic[StructT]):
    """A request body decoded with `decode_body`, and documented in OpenAPI from its Struct."""

    def decode_bytes(self, value: bytes) -> StructT:
        return decode_body(value, self.model_type)

    @classmethod
    def create_openapi_schema(
        cls, field_definition: FieldDefinition, handler_id: str, schema_creator: SchemaCreator
    ) -> Reference | Schema:
        # Document the Struct itself: the DTO's generated transfer model cannot carry
        # constraints such as a pattern on an optional string.
        return schema_creator.for_field_definition(FieldDefinition.from_annotation(cls.model_type))


def _slug(title: str) -> str:
    return title.lower().replace(" ", "-")
