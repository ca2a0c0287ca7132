"""The API contract: the OpenAPI document completed in one place, so it says what the server does.

Litestar's generator leaves out what only this app knows: the bearer token its guard demands,
problem details (`application/problem+json`) on every error, the control-character rule the
parameter guard enforces, and request bodies as strict as the Structs that decode them.
tests/test_openapi_contract.py holds the server to the completed document.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import msgspec
from litestar import Litestar
from litestar.datastructures import MutableScopeHeaders
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    Components,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    Reference,
    RequestBody,
    Schema,
    SecurityScheme,
)
from litestar.routes import HTTPRoute
from litestar.types import Message, Scope

from aftercare.accounts import ROLES
from aftercare.fields import TEXT_PATTERN
from api.auth import READ_METHODS, RoleGuard, require_api_token
from api.problems import ProblemDetails, StrictBody

PROBLEM_JSON = "application/problem+json"
BEARER = "bearerToken"
SCHEMA_REF = "#/components/schemas/{name}"

# Any operation may answer these: the parameter guard and the 5xx handlers cover every route.
_ANY_OPERATION = {
    400: "A body or parameter breaks its schema, or a parameter holds a control character",
    500: "A bug: `request_id` names the server log entry with the traceback",
}
# Operations behind the token guard (all of /api/v1) also read the database.
_GUARDED_OPERATION = {
    401: "The bearer token is missing or wrong",
    503: "The database is busy or unreachable: nothing was stored; retry after Retry-After",
}
_WITH_A_BODY = {413: "The body is over this operation's size limit"}
# Guarded operations that change something: a viewer's token may only read.
_GUARDED_CHANGE = {403: "The caller's role may not do this (a viewer changes nothing)"}
_ROLES_ONLY = "The caller's role may not do this (only: {roles})"
_HEADERS: dict[str, dict[str, OpenAPIHeader | Reference]] = {
    "401": {"WWW-Authenticate": OpenAPIHeader(schema=Schema(type=OpenAPIType.STRING))},
    "503": {
        "Retry-After": OpenAPIHeader(
            schema=Schema(type=OpenAPIType.INTEGER), required=True, description="Seconds"
        )
    },
}


def problems(when: Mapping[int, str]) -> dict[int, ResponseSpec]:
    """Problem answers particular to one operation (status → when), for its `responses=`."""
    return {status: ResponseSpec(None, description=text) for status, text in when.items()}


def complete_openapi(app: Litestar) -> None:
    """Complete the app's OpenAPI document, which Litestar builds once and then serves."""
    document = app.openapi_schema
    operations = list(_operations(app))
    bodies = {struct for handler, _ in operations if (struct := _body_struct(handler))}
    structs = [ProblemDetails, *sorted(bodies, key=lambda struct: struct.__name__)]
    refs, schemas = msgspec.json.schema_components(structs, ref_template=SCHEMA_REF)
    ref_of = {struct: Reference(ref=ref["$ref"]) for struct, ref in zip(structs, refs, strict=True)}
    document.components = document.components or Components()
    document.components.schemas = {
        **(document.components.schemas or {}),
        **{name: _schema(schema) for name, schema in schemas.items()},
    }
    document.components.security_schemes = {
        BEARER: SecurityScheme(
            type="http",
            scheme="bearer",
            description="Authorization: Bearer <token>: AFTERCARE_API_TOKEN (the bootstrap "
            "admin) or a personal token (POST /api/v1/users/{id}/tokens)",
        )
    }
    for handler, operation in operations:
        answers = dict(_ANY_OPERATION)
        if _needs_the_token(handler):
            operation.security = [{BEARER: []}]
            answers |= _GUARDED_OPERATION
            if not handler.http_methods <= READ_METHODS:
                answers |= _GUARDED_CHANGE
            if roles := _roles(handler):
                _name_the_roles(operation, roles)
                if set(roles) != set(ROLES):
                    answers |= {403: _ROLES_ONLY.format(roles=", ".join(roles))}
        if struct := _body_struct(handler):
            operation.request_body = RequestBody(
                content={"application/json": OpenAPIMediaType(schema=ref_of[struct])},
                required=True,
            )
            answers |= _WITH_A_BODY
        _add_problem_answers(operation, answers, handler, ref_of[ProblemDetails])
        _show_the_text_rule(operation)


async def allow_every_method(message: Message, scope: Scope) -> None:
    """A before-send hook: OPTIONS names every method of its path, as the document does.

    Litestar 2 names only the methods of a path's first handler (litestar#4169).
    """
    if message["type"] != "http.response.start" or scope.get("method") != "OPTIONS":
        return
    headers = MutableScopeHeaders.from_message(message)
    if "allow" in headers:
        path = scope.get("path_template")
        routes = [r for r in scope["app"].routes if r.path_format == path]
        headers["Allow"] = ", ".join(sorted({method for r in routes for method in r.methods}))


def _operations(app: Litestar) -> Iterator[tuple[HTTPRouteHandler, Operation]]:
    paths = app.openapi_schema.paths or {}
    for route in app.routes:
        path_item = paths.get(route.path_format)
        if not isinstance(route, HTTPRoute) or path_item is None:
            continue
        for handler in route.route_handlers:
            for method in handler.http_methods:
                operation = getattr(path_item, method.lower(), None)
                if isinstance(operation, Operation):
                    yield handler, operation


def _needs_the_token(handler: HTTPRouteHandler) -> bool:
    return any(require_api_token in (layer.guards or []) for layer in handler.ownership_layers)


def _roles(handler: HTTPRouteHandler) -> tuple[str, ...] | None:
    """The roles the handler's role guard lets through; None when it has none."""
    for layer in handler.ownership_layers:
        for guard in layer.guards or []:
            if isinstance(guard, RoleGuard):
                return guard.roles
    return None


def _name_the_roles(operation: Operation, roles: tuple[str, ...]) -> None:
    who = f"Roles: {', '.join(roles)}."
    operation.description = f"{operation.description}\n\n{who}" if operation.description else who


def _body_struct(handler: HTTPRouteHandler) -> type[msgspec.Struct] | None:
    dto = handler.resolve_data_dto()
    if dto is not None and issubclass(dto, StrictBody):
        model: type[msgspec.Struct] = dto.model_type
        return model
    return None


def _add_problem_answers(
    operation: Operation, answers: dict[int, str], handler: HTTPRouteHandler, problem: Reference
) -> None:
    """The common answers (where the handler says nothing else), then problem details as the
    body of every error answer that has no body of its own."""
    responses = operation.responses = operation.responses or {}
    declared = handler.responses or {}
    for status, text in answers.items():
        if status not in declared:
            responses[str(status)] = OpenAPIResponse(description=text)
    for code, response in responses.items():
        if int(code) >= 400 and isinstance(response, OpenAPIResponse) and not response.content:
            response.content = {PROBLEM_JSON: OpenAPIMediaType(schema=problem)}
            response.headers = _HEADERS.get(code)


def _show_the_text_rule(operation: Operation) -> None:
    """Free-text parameters carry the pattern the guard in api/params.py enforces on them."""
    for parameter in operation.parameters or []:
        schema = parameter.schema if isinstance(parameter, Parameter) else None
        if isinstance(schema, Schema) and schema.pattern is None and schema.enum is None:
            kinds = [schema.type, *(s.type for s in schema.one_of or [] if isinstance(s, Schema))]
            if OpenAPIType.STRING in kinds:
                schema.pattern = TEXT_PATTERN


# JSON Schema keywords whose values are schemas, as lists, as maps, or alone.
_SCHEMA_LISTS = frozenset({"anyOf", "oneOf", "allOf", "prefixItems"})
_SCHEMA_MAPS = frozenset({"properties", "patternProperties"})
_SCHEMA_VALUES = frozenset({"items", "additionalProperties"})


def _schema(json_schema: dict[str, Any]) -> Schema:
    """msgspec's JSON Schema as Litestar's spec objects, keyword by keyword."""
    fields: dict[str, Any] = {}
    for keyword, value in json_schema.items():
        if keyword in _SCHEMA_LISTS:
            value = [_schema_or_ref(item) for item in value]
        elif keyword in _SCHEMA_MAPS:
            value = {name: _schema_or_ref(item) for name, item in value.items()}
        elif keyword in _SCHEMA_VALUES and isinstance(value, dict):
            value = _schema_or_ref(value)
        elif keyword == "type":
            value = OpenAPIType(value) if isinstance(value, str) else list(map(OpenAPIType, value))
        fields[re.sub(r"(?<=[a-z])([A-Z])", r"_\1", keyword).lower()] = value
    return Schema(**fields)


def _schema_or_ref(json_schema: dict[str, Any]) -> Schema | Reference:
    if "$ref" in json_schema:
        return Reference(ref=json_schema["$ref"])
    return _schema(json_schema)
