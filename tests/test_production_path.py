"""The production shape: `aftercare serve` and a separate `dramatiq` worker process, talking
through Redis, over real HTTP. Runs on SQLite in the first pass, PostgreSQL in the second."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_DIR, fresh_database_url
from tests.mail_server import Inbox, free_port, smtp_server, wait_until

REDIS_URL = os.environ.get("AFTERCARE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# A database number of its own, so this test's queues never mix with anything else's.
REDIS_TEST_URL = REDIS_URL.rsplit("/", 1)[0] + "/13"
BIN = Path(sys.executable).parent
TOKEN = "production-path-token"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    """A real SMTP server the worker process mails through."""
    with smtp_server(free_port()) as received:
        yield received


@pytest.fixture
def production(tmp_path: Path, inbox: Inbox) -> Iterator[httpx.Client]:
    import redis

    redis.Redis.from_url(REDIS_TEST_URL).flushdb()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")}
    env.update(
        AFTERCARE_DATABASE_URL=fresh_database_url("aftercare_production_path"),
        AFTERCARE_BROKER_URL=REDIS_TEST_URL,
        AFTERCARE_EMBEDDED_WORKER="off",
        AFTERCARE_API_TOKEN=TOKEN,
        AFTERCARE_DATA_DIR=str(tmp_path),
        AFTERCARE_PUBLIC_URL=f"http://127.0.0.1:{port}",
        AFTERCARE_HOUSEKEEPING_INTERVAL_SECONDS="0.5",
        AFTERCARE_LOG_LEVEL="WARNING",
        AFTERCARE_SMTP_URL=f"smtp://127.0.0.1:{inbox.port}",
    )
    subprocess.run([BIN / "aftercare", "migrate"], env=env, check=True, capture_output=True)
    logs = {name: open(tmp_path / f"{name}.log", "w") for name in ("api", "worker")}  # noqa: SIM115
    api = subprocess.Popen(
        [BIN / "aftercare", "serve", "--port", str(port)],
        env=env,
        cwd=TEST_DIR,
        stdout=logs["api"],
        stderr=subprocess.STDOUT,
    )
    worker = subprocess.Popen(
        [BIN / "aftercare", "worker", "--processes", "1", "--threads", "1"],
        env=env,
        cwd=TEST_DIR,
        stdout=logs["worker"],
        stderr=subprocess.STDOUT,
    )
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{port}",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )
    try:
        _wait_until_ready(client, api)
        yield client
    finally:
        client.close()
        for process in (api, worker):
            process.terminate()
        for process in (api, worker):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in logs.values():
            log.close()
        if sys.exc_info()[0] is not None:
            for name in logs:
                print(f"--- {name} log ---\n{(tmp_path / f'{name}.log').read_text()[-4000:]}")


def _wait_until_ready(client: httpx.Client, api: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert api.poll() is None, "aftercare serve exited"
        try:
            if client.get("/ready").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("aftercare serve did not become ready")


def test_separate_api_and_worker_processes_close_the_loop(
    production: httpx.Client, inbox: Inbox
) -> None:
    assert production.post("/api/v1/teams", json={"slug": "support", "name": "Support"}).is_success
    owner = {"email": "sam@example.com", "name": "Sam", "team": "support"}
    assert production.post("/api/v1/owners", json=owner).is_success
    case = production.post(
        "/api/v1/cases/closed",
        json={"external_id": "PROD-1", "customer": {"email": "p@example.org"}, "team": "support"},
    ).json()
    survey = case["survey_url"].replace(str(production.base_url).rstrip("/"), "")
    assert production.get(survey).status_code == 200
    submitted = production.post(
        survey,
        data={"nps": "1", "csat": "1", "comment": "The engineer never came and nobody called."},
        follow_redirects=True,
    )
    assert submitted.status_code == 200 and "Thank you" in submitted.text

    response_id = production.get(f"/api/v1/cases/{case['case_id']}").json()["response_id"]
    deadline = time.monotonic() + 120
    while (body := production.get(f"/api/v1/responses/{response_id}").json())[
        "status"
    ] == "pending":
        assert time.monotonic() < deadline, f"the worker never analysed the response: {body}"
        time.sleep(0.25)
    assert body["sentiment_label"] == "negative"
    tasks = production.get("/api/v1/tasks", params={"owner": "sam@example.com"}).json()["items"]
    assert [task["id"] for task in tasks] == [body["follow_up_task_id"]]
    # The worker process mailed Sam the task's link (the API process runs no worker).
    [mail] = wait_until(lambda: inbox.to("sam@example.com"), timeout=60)
    link = f"{str(production.base_url).rstrip('/')}/tasks/{body['follow_up_task_id']}"
    assert link in mail.get_content()
    [kept] = production.get("/api/v1/mail").json()["items"]
    assert kept["status"] == "sent" and kept["recipient"] == "sam@example.com"
