"""The OpenAPI document tells the truth: Schemathesis holds the live app to it.

Schemathesis sends generated requests, valid and invalid, to every documented operation (and
chains them statefully), and fails on a server error, an undocumented status code or content
type, a body that breaks its schema, a schema-valid request refused, an invalid one accepted,
a missing bearer token let through, or an Allow header that names other methods.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from api.openapi import BEARER, PROBLEM_JSON
from tests.conftest import API_TOKEN, settings_with
from tests.helpers import serve

# schemathesis.toml holds what the contract allows beyond Schemathesis's defaults (422).
CONFIG = Path(__file__).parents[1] / "schemathesis.toml"
# A fixed seed makes a failure reproducible; 30 examples per operation take about 25 s.
SEED = 20261206
MAX_EXAMPLES = 30
RUN_TIMEOUT_SECONDS = 240


@pytest.fixture
def live_api(db: None) -> Iterator[str]:
    """The real app under uvicorn, without its worker (no model loads)."""
    with serve(create_app(settings_with(embedded_worker="off"))) as url:
        yield url


def test_the_live_app_keeps_every_promise_of_its_openapi_document(
    live_api: str, tmp_path: Path
) -> None:
    command = [
        *(sys.executable, "-m", "schemathesis.cli", "--no-color", "--config-file", str(CONFIG)),
        *("run", f"{live_api}/schema/openapi.json", "--checks", "all"),
        *("--header", f"Authorization: Bearer {API_TOKEN}"),
        *("--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED)),
        *("--workers", "1", "--generation-database", "none"),
    ]
    # Schemathesis keeps its state in the working directory: a scratch one.
    run = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS
    )
    assert run.returncode == 0, (run.stdout + run.stderr)[-30_000:]


def test_every_api_operation_asks_for_the_bearer_token_and_the_probes_do_not() -> None:
    document = create_app(settings_with(embedded_worker="off")).openapi_schema.to_schema()
    scheme = document["components"]["securitySchemes"][BEARER]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert "AFTERCARE_API_TOKEN" in scheme["description"]
    for path, operation in _operations(document):
        guarded = path.startswith("/api/v1/")
        assert (operation.get("security") == [{BEARER: []}]) is guarded, path
        assert ("401" in operation["responses"]) is guarded, path


def test_every_error_answer_is_documented_as_problem_details() -> None:
    document = create_app(settings_with(embedded_worker="off")).openapi_schema.to_schema()
    for path, operation in _operations(document):
        for status, response in operation["responses"].items():
            # /ready's 503 is its own readiness report.
            if int(status) >= 400 and (path, status) != ("/ready", "503"):
                assert list(response["content"]) == [PROBLEM_JSON], (path, status)


def test_request_bodies_refuse_unknown_fields_in_the_schema_as_the_server_does() -> None:
    document = create_app(settings_with(embedded_worker="off")).openapi_schema.to_schema()
    schemas = document["components"]["schemas"]
    bodies = [
        operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        for _, operation in _operations(document)
        if "requestBody" in operation
    ]
    assert bodies
    for ref in bodies:
        assert schemas[ref.rsplit("/", 1)[1]]["additionalProperties"] is False, ref
    # Constraints of list items survive: no empty example phrase.
    examples = schemas["NewTopic"]["properties"]["examples"]["items"]
    assert examples["minLength"] == 1 and "pattern" in examples


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for operation in item.values():
            yield path, operation
