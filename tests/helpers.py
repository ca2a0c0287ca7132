"""Test helpers: an API client that speaks the product's language, and a live server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from litestar import Litestar
from litestar.testing import TestClient

SETTLE_TIMEOUT_SECONDS = 60.0
SERVER_START_SECONDS = 30.0


@contextmanager
def serve(app: Litestar) -> Iterator[str]:
    """Serve `app` with uvicorn on a free port, in a thread; yield its base URL."""
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on TCP sockets it recognises, and
    # without it each keep-alive response waits ~40 ms for a delayed ACK.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.bind(("127.0.0.1", 0))
    host, port = listener.getsockname()
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    # Handing uvicorn the bound socket leaves no window for another process to take the port.
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + SERVER_START_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            listener.close()
            raise RuntimeError("the app did not start under uvicorn")
        time.sleep(0.05)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=SERVER_START_SECONDS)
        listener.close()


class ApiClient:
    """Calls the HTTP API with the bearer token; survey pages without it."""

    def __init__(self, client: TestClient[Any], token: str) -> None:
        self.http = client
        self.auth = {"Authorization": f"Bearer {token}"}

    @classmethod
    @contextmanager
    def for_app(cls, app: Litestar, token: str) -> Iterator[ApiClient]:
        with TestClient(app, timeout=30) as client:
            yield cls(client, token)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.http.get(path, headers=self._headers(kwargs), **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.http.post(path, headers=self._headers(kwargs), **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        return self.http.patch(path, headers=self._headers(kwargs), **kwargs)

    def _headers(self, kwargs: dict[str, Any]) -> dict[str, str]:
        return {**self.auth, **kwargs.pop("headers", {})}

    def create_team(self, slug: str, name: str | None = None) -> dict[str, Any]:
        response = self.post("/api/v1/teams", json={"slug": slug, "name": name or slug.title()})
        assert response.status_code == 201, response.text
        return response.json()

    def create_owner(self, email: str, team: str | None = None, name: str = "") -> dict[str, Any]:
        body = {"email": email, "name": name or email.split("@")[0].title(), "team": team}
        response = self.post("/api/v1/owners", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def close_case(self, external_id: str, team: str = "", **fields: Any) -> dict[str, Any]:
        body = {
            "external_id": external_id,
            "subject": fields.pop("subject", "Broken router"),
            "customer": fields.pop(
                "customer", {"email": f"{external_id.lower()}@example.org", "name": "Robin"}
            ),
            "team": team,
            "agent": fields.pop("agent", "Sam"),
            "closed_at": fields.pop("closed_at", "2026-11-20T09:30:00Z"),
            **fields,
        }
        response = self.post("/api/v1/cases/closed", json=body)
        assert response.status_code in (200, 201), response.text
        return response.json()

    def answer_survey_form(self, survey_url: str, nps: int, csat: int, comment: str) -> Any:
        """Answer the way a customer does: open the page, post the form."""
        path = survey_path(survey_url)
        page = self.http.get(path)
        assert page.status_code == 200, page.text
        return self.http.post(
            path,
            data={"nps": str(nps), "csat": str(csat), "comment": comment},
            follow_redirects=True,
        )

    def response_id_of_case(self, case_id: int) -> int:
        response = self.get(f"/api/v1/cases/{case_id}")
        assert response.status_code == 200, response.text
        response_id = response.json()["response_id"]
        assert response_id is not None, "the case has no response"
        return int(response_id)

    def submit_json(self, survey_url: str, nps: int, csat: int, comment: str = "") -> Any:
        token = survey_path(survey_url).rsplit("/", 1)[1]
        return self.post(
            "/api/v1/responses", json={"token": token, "nps": nps, "csat": csat, "comment": comment}
        )

    def wait_until_analysed(
        self, response_id: int, timeout: float = SETTLE_TIMEOUT_SECONDS
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            response = self.get(f"/api/v1/responses/{response_id}")
            assert response.status_code == 200, response.text
            body = response.json()
            if body["status"] != "pending":
                return body
            if time.monotonic() > deadline:
                raise AssertionError(f"response {response_id} still pending after {timeout}s")
            time.sleep(0.1)

    def tasks(self, **params: Any) -> list[dict[str, Any]]:
        """The tasks a list query finds (its items; the page must hold them all)."""
        response = self.get("/api/v1/tasks", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["total"] == len(page["items"]), "more tasks than one page"
        return list(page["items"])


def survey_path(survey_url: str) -> str:
    return "/s/" + survey_url.rsplit("/s/", 1)[1]


def survey_token(survey_url: str) -> str:
    return survey_url.rsplit("/", 1)[1]
