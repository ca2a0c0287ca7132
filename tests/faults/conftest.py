"""Fault tests (issue 27): the production shape on private servers, a burst of answers, one fault.

Each test gets its own PostgreSQL cluster and broker on free ports (never the shared services on
5432/6379/5672), runs `aftercare migrate`, starts `aftercare serve` and one `aftercare worker` as
subprocesses, sends a burst of answers, injects its fault and ends with `reconcile`: every
accepted answer stored and analysed once, one follow-up task per negative answer, nothing left in
the outbox, nothing failed.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")
RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")
TOKEN = "faults-token"
ANSWERS = 120
DETRACTOR_SHARE = 0.3
SETTLE_SECONDS = 150.0
ERROR_LINE = re.compile(r"\b(ERROR|CRITICAL)\b|\b\w+(Error|Exception)\b")
VARYING = re.compile(r"\b[0-9a-f]{8,}\b|\d+")
TIMESTAMP = re.compile(r"\[?\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d[,.]\d+\]?")
OWNER = {"email": "sam@example.com", "name": "Sam", "team": "support"}
NEGATIVE_COMMENTS = [
    "Nobody called me back and the router is still broken.",
    "The engineer never came. Three days without internet.",
    "Rude on the phone and the bill is wrong again.",
    "I waited an hour in the queue and nothing was fixed.",
]
POSITIVE_COMMENTS = [
    "Quick and friendly help, thank you!",
    "Sam fixed it in five minutes. Great service.",
    "Everything works again, very happy.",
    "",
]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "faults: starts private servers and injects a fault (tests/faults, slow)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.faults)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    # Fixtures read the outcome to print the servers' logs when a test failed.
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


# --- small tools -------------------------------------------------------------------------


def wait_until(check: Callable[[], bool], timeout: float, what: str, every: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def port_accepts(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("", port))
        except OSError:
            return False
    return True


def free_port(also_free_at: int = 0) -> int:
    """A free port in 20000-39999 (and `port + also_free_at` free too, for RabbitMQ)."""
    for _ in range(200):
        port = random.randrange(20000, 40000)
        if _port_is_free(port) and (not also_free_at or _port_is_free(port + also_free_at)):
            return port
    raise RuntimeError("no free port found")


def require_binary(path: Path | str) -> None:
    if not (Path(path).exists() or shutil.which(str(path))):
        pytest.skip(f"{path} is not installed: the fault tests need it")


def stop_process_groups(*processes: subprocess.Popen[bytes] | None, grace: float = 5.0) -> None:
    """SIGTERM each process, then SIGKILL its process group (own session): what outlives `grace`
    and any child left behind. Only the leader gets SIGTERM: dramatiq's parent forwards it, and
    a worker child signalled twice did not exit in 20 s."""
    running = [p for p in processes if p is not None and p.poll() is None]
    for process in running:
        process.terminate()
    deadline = time.monotonic() + grace
    for process in running:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def tail(path: Path, lines: int = 60) -> str:
    if not path.exists():
        return f"(no {path.name})"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# --- servers ---------------------------------------------------------------------------------


LOCK_AN_UNDISPATCHED_ROW_SQL = """
SELECT id FROM outbox_message WHERE dispatched_at IS NULL
ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED
"""
RELAY_WAITING_SQL = """
SELECT count(*) FROM pg_stat_activity
WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE%outbox_message%'
"""


class Postgres:
    """A PostgreSQL 15 cluster of its own, run as the postgres user (it refuses root)."""

    def __init__(self, port: int) -> None:
        self.port = port
        # Not under pytest's tmp_path: the postgres user cannot enter /tmp/pytest-of-root.
        self.root = Path(tempfile.mkdtemp(prefix="faults-pg-"))
        shutil.chown(self.root, "postgres", "postgres")
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.url = f"postgresql://postgres@127.0.0.1:{port}/aftercare"

    def create(self) -> None:
        self._as_postgres(PG_BIN / "initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "-N")
        self.start()
        self._as_postgres(
            PG_BIN / "createdb", "-h", "127.0.0.1", "-p", self.port, "-U", "postgres", "aftercare"
        )

    def start(self) -> None:
        # fsync off: a stop -m immediate is a crash of PostgreSQL, not of the machine.
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._pg_ctl("-o", options, "-l", self.log, "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl("-m", mode, "-w", "-t", "60", "stop")

    def stop_while_the_relay_claims(self, mode: str, wait: float = 15) -> None:
        """Stop once the outbox relay waits inside its claim transaction (a row lock taken here
        holds its UPDATE), so the stop cuts that connection mid-transaction for certain. A relay
        that makes no claim within `wait` is reported, and the stop happens anyway."""
        import asyncpg

        async def hold_a_row_and_stop() -> None:
            holder = await asyncpg.connect(self.url)
            # pg_stat_activity is a snapshot per transaction: watch from outside the holder's.
            watcher = await asyncpg.connect(self.url)
            deadline = time.monotonic() + wait
            try:
                async with holder.transaction():
                    while not await holder.fetchval(LOCK_AN_UNDISPATCHED_ROW_SQL):
                        if time.monotonic() > deadline:
                            break
                    while not await watcher.fetchval(RELAY_WAITING_SQL):
                        if time.monotonic() > deadline:
                            print(f"[faults] the outbox relay made no claim in {wait:.0f} s")
                            break
                        await asyncio.sleep(0.01)
                    await asyncio.to_thread(self.stop, mode)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                pass  # the stop ends these connections too
            finally:
                holder.terminate()
                watcher.terminate()

        asyncio.run(hold_a_row_and_stop())

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def _pg_ctl(self, *args: object) -> None:
        self._as_postgres(PG_BIN / "pg_ctl", "-D", self.data, *args)

    def _as_postgres(self, *command: object) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *map(str, command)],
            check=True,
            capture_output=True,
            cwd=self.root,
            timeout=90,
        )


class Broker(Protocol):
    name: str
    url: str
    log: Path

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def destroy(self) -> None: ...


class Redis:
    """redis-server without persistence: a stop loses every queued message, as a crash would."""

    name = "redis"

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.log = root / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", self.root]
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_until(lambda: port_accepts(self.port), 30, f"redis on port {self.port}")

    def stop(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def destroy(self) -> None:
        stop_process_groups(self.process, grace=2)


class RabbitMQ:
    """A second RabbitMQ node with its own name, ports, data and cookie, and no plugins."""

    name = "rabbitmq"
    DIST_PORT_OFFSET = 20000

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.port = port
        self.node = f"faults{port}@localhost"
        self.url = f"amqp://guest:guest@127.0.0.1:{port}/%2F"
        self.log = root / "rabbitmq.log"
        self.process: subprocess.Popen[bytes] | None = None
        cookie = root / ".erlang.cookie"
        cookie.write_text(f"faults{random.getrandbits(64)}")
        cookie.chmod(0o400)
        # Files of its own: the system's name the shared node (rabbit@localhost) and port 5672.
        (root / "rabbitmq.conf").write_text(f"listeners.tcp.1 = 127.0.0.1:{port}\n")
        (root / "rabbitmq-env.conf").write_text("")
        (root / "enabled_plugins").write_text("[].\n")
        self.env = {
            **os.environ,
            "HOME": str(root),
            "RABBITMQ_CONF_ENV_FILE": str(root / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(root / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(root / "enabled_plugins"),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(port),
            "RABBITMQ_DIST_PORT": str(port + self.DIST_PORT_OFFSET),
            "RABBITMQ_MNESIA_BASE": str(root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(root / "log"),
            "RABBITMQ_PID_FILE": str(root / "rabbitmq.pid"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def start(self) -> None:
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                [RABBITMQ_BIN / "rabbitmq-server"],
                env=self.env,
                cwd=self.root,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(lambda: port_accepts(self.port), 90, f"rabbitmq on port {self.port}")
        self._ctl("await_startup")

    def stop(self) -> None:
        self._ctl("stop")
        assert self.process is not None
        self.process.wait(timeout=30)

    def destroy(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(subprocess.SubprocessError):
                self._ctl("stop")
        stop_process_groups(self.process, grace=10)

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            [RABBITMQ_BIN / "rabbitmqctl", "-n", self.node, *args],
            env=self.env,
            cwd=self.root,
            check=True,
            capture_output=True,
            timeout=90,
        )


# --- the answers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    token: str
    nps: int
    csat: int
    comment: str

    @property
    def detractor(self) -> bool:
        return self.nps <= 6


def make_answers(tokens: list[str], seed: int = 27) -> list[Answer]:
    """About DETRACTOR_SHARE detractors (NPS 0-6, CSAT 1-2), the rest happy; seeded."""
    rng = random.Random(seed)
    detractors = set(rng.sample(range(len(tokens)), round(len(tokens) * DETRACTOR_SHARE)))
    return [
        Answer(token, rng.randint(0, 6), rng.randint(1, 2), rng.choice(NEGATIVE_COMMENTS))
        if i in detractors
        else Answer(token, rng.randint(7, 10), rng.randint(4, 5), rng.choice(POSITIVE_COMMENTS))
        for i, token in enumerate(tokens)
    ]


class Burst:
    """Submits answers from a thread at a steady pace, as customers would.

    A 5xx or a dropped connection is retried until the API gives a definite answer; a 409 after
    such a retry means the first try was stored after all, so it counts as accepted.
    """

    def __init__(self, base_url: str, answers: list[Answer], per_second: float) -> None:
        self.base_url = base_url
        self.answers = answers
        self.per_second = per_second
        self.accepted: dict[str, Answer] = {}
        self.rejected: list[str] = []
        self.retries: list[str] = []
        self.submitted = 0
        self._thread = threading.Thread(target=self._run, name="burst", daemon=True)

    def start(self) -> Burst:
        self._thread.start()
        return self

    def wait_submitted(self, count: int, timeout: float = 60) -> None:
        wait_until(lambda: self.submitted >= count, timeout, f"{count} answers submitted")

    def join(self, timeout: float = 180) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the burst did not finish"

    def _run(self) -> None:
        started = time.monotonic()
        with httpx.Client(base_url=self.base_url, timeout=30, headers=_auth()) as client:
            for i, answer in enumerate(self.answers):
                time.sleep(max(0.0, started + i / self.per_second - time.monotonic()))
                self._submit(client, answer)
                self.submitted = i + 1

    def _submit(self, client: httpx.Client, answer: Answer, retry_for: float = 90) -> None:
        body = {
            "token": answer.token,
            "nps": answer.nps,
            "csat": answer.csat,
            "comment": answer.comment,
        }
        deadline = time.monotonic() + retry_for
        uncertain = False
        while time.monotonic() < deadline:
            try:
                response = client.post("/api/v1/responses", json=body)
            except httpx.TransportError as error:
                self.retries.append(f"{answer.token[:8]}: {type(error).__name__}")
            else:
                if response.status_code == 201 or (response.status_code == 409 and uncertain):
                    self.accepted[answer.token] = answer
                    return
                if response.status_code < 500:
                    self.rejected.append(f"{response.status_code} {response.text[:200]}")
                    return
                self.retries.append(f"{answer.token[:8]}: {response.status_code}")
            uncertain = True
            time.sleep(0.5)
        self.rejected.append(f"{answer.token[:8]}: no definite answer in {retry_for:.0f} s")


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


# --- the product -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    stored: int
    analysed: int
    pending: int
    failed: int
    analyses: int
    negative: int
    tasks: int
    outbox_left: int


COUNTS_SQL = """
SELECT
  (SELECT count(*) FROM survey_response) AS stored,
  (SELECT count(*) FROM survey_response WHERE status = 'analysed') AS analysed,
  (SELECT count(*) FROM survey_response WHERE status = 'pending') AS pending,
  (SELECT count(*) FROM survey_response WHERE status = 'failed') AS failed,
  (SELECT count(*) FROM analysis) AS analyses,
  (SELECT count(*) FROM analysis WHERE is_negative) AS negative,
  (SELECT count(*) FROM follow_up_task) AS tasks,
  (SELECT count(*) FROM outbox_message WHERE dispatched_at IS NULL) AS outbox_left
"""
# Responses whose task count does not match their analysis: negative needs exactly one.
MISROUTED_SQL = """
SELECT r.id, a.is_negative, count(t.id) AS tasks
FROM survey_response r
LEFT JOIN analysis a ON a.response = r.id
LEFT JOIN follow_up_task t ON t.response = r.id
GROUP BY r.id, a.is_negative
HAVING count(t.id) <> CASE WHEN a.is_negative THEN 1 ELSE 0 END
"""
STORED_SQL = """
SELECT i.token, r.nps, r.csat, a.is_negative
FROM survey_response r
JOIN invitation i ON i.id = r.invitation
LEFT JOIN analysis a ON a.response = r.id
"""


class Aftercare:
    """`aftercare serve` and `aftercare worker` against the private servers, with their logs."""

    def __init__(self, tmp: Path, database_url: str, broker_url: str, **settings: str) -> None:
        self.tmp = tmp
        self.database_url = database_url
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.serve_log = tmp / "serve.log"
        self.worker_log = tmp / "worker.log"
        self.serve: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=self.base_url, timeout=30, headers=_auth())
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")}
        self.env.update(
            AFTERCARE_DATABASE_URL=database_url,
            AFTERCARE_BROKER_URL=broker_url,
            AFTERCARE_EMBEDDED_WORKER="off",
            AFTERCARE_API_TOKEN=TOKEN,
            AFTERCARE_PORT=str(self.port),
            AFTERCARE_PUBLIC_URL=self.base_url,
            AFTERCARE_DATA_DIR=str(tmp / "data"),
            AFTERCARE_HOUSEKEEPING_INTERVAL_SECONDS="0.5",
            AFTERCARE_ANALYSIS_SWEEP_AFTER_SECONDS="10",
            # A housekeeping loop stuck for this long turns /ready to 503.
            AFTERCARE_HOUSEKEEPING_STALE_AFTER_SECONDS="15",
            AFTERCARE_DISCOVERY_INTERVAL_HOURS="0",
            AFTERCARE_TORCH_THREADS="1",
            AFTERCARE_LOG_LEVEL="WARNING",
        )
        self.env.update(settings)

    def migrate(self) -> None:
        done = subprocess.run(
            [BIN / "aftercare", "migrate"], env=self.env, cwd=self.tmp, capture_output=True
        )
        assert done.returncode == 0, f"aftercare migrate failed:\n{done.stdout!r}\n{done.stderr!r}"

    def start_serve(self) -> None:
        self.serve = self._spawn(["serve"], self.serve_log)
        self.wait_ready(90)

    def start_worker(self) -> None:
        self.worker = self._spawn(["worker", "--processes", "1", "--threads", "1"], self.worker_log)

    def kill_worker(self) -> None:
        """kill -9 the worker's whole process group: the dramatiq parent and its children."""
        assert self.worker is not None
        os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.wait(timeout=10)

    def stop(self) -> None:
        stop_process_groups(self.serve, self.worker)
        self.http.close()

    def _spawn(self, args: list[str], log_path: Path) -> subprocess.Popen[bytes]:
        with log_path.open("a") as log:
            return subprocess.Popen(
                [BIN / "aftercare", *args],
                env=self.env,
                cwd=self.tmp,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def ready_status(self) -> int:
        try:
            return self.http.get("/ready").status_code
        except httpx.TransportError:
            return 0

    def wait_ready(self, timeout: float) -> None:
        def ready() -> bool:
            assert self.serve is not None and self.serve.poll() is None, "aftercare serve exited"
            return self.ready_status() == 200

        wait_until(ready, timeout, "GET /ready to answer 200", every=0.5)

    def create_owner(self) -> None:
        team = {"slug": "support", "name": "Support"}
        assert self.http.post("/api/v1/teams", json=team).status_code == 201
        assert self.http.post("/api/v1/owners", json=OWNER).status_code == 201

    def close_cases(self, count: int) -> list[str]:
        """Close `count` support cases; return their survey tokens."""
        tokens = []
        for i in range(count):
            case = {
                "external_id": f"FAULT-{i}",
                "customer": {"email": f"customer{i}@example.org"},
                "team": "support",
            }
            response = self.http.post("/api/v1/cases/closed", json=case)
            assert response.status_code == 201, response.text
            tokens.append(response.json()["survey_url"].rsplit("/", 1)[1])
        return tokens

    def start_burst(self, per_second: float, count: int = ANSWERS) -> Burst:
        """Close `count` cases, then answer their surveys from a thread at `per_second`."""
        return Burst(self.base_url, make_answers(self.close_cases(count)), per_second).start()

    def query(self, sql: str) -> list[dict[str, Any]]:
        import asyncpg

        async def fetch() -> list[dict[str, Any]]:
            connection = await asyncpg.connect(self.database_url, timeout=5)
            try:
                return [dict(row) for row in await connection.fetch(sql)]
            finally:
                await connection.close()

        return asyncio.run(fetch())

    def counts(self) -> Counts | None:
        """The counts now, or None while the database is down or restarting."""
        from asyncpg.exceptions import (
            OperatorInterventionError,
            PostgresConnectionError,
        )

        unreachable = (OSError, TimeoutError, PostgresConnectionError, OperatorInterventionError)
        try:
            return Counts(**self.query(COUNTS_SQL)[0])
        except unreachable as error:
            print(f"[faults] database not reachable: {error!r}")
            return None

    def wait_for_counts(self, check: Callable[[Counts], bool], timeout: float, what: str) -> Counts:
        deadline = time.monotonic() + timeout
        while not ((counts := self.counts()) and check(counts)):
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {counts}"
            time.sleep(0.25)
        print(f"[faults] {what}: {counts}")
        return counts

    def serve_log_size(self) -> int:
        return len(self.serve_log.read_text(errors="replace"))

    def repeated_serve_errors(self, since: int, at_most: int = 3) -> dict[str, int]:
        """Error lines (ERROR level, or naming an exception) seen more than `at_most` times
        since `since`, counted with numbers, ids and timestamps blanked out."""
        lines = self.serve_log.read_text(errors="replace")[since:].splitlines()
        errors = collections.Counter(
            VARYING.sub("#", TIMESTAMP.sub("", line)).strip()
            for line in lines
            if ERROR_LINE.search(line)
        )
        return {error: count for error, count in errors.items() if count > at_most}

    def log_tails(self) -> str:
        return "\n".join(
            f"--- {path.name} ---\n{tail(path)}" for path in (self.serve_log, self.worker_log)
        )


@dataclass(frozen=True)
class Settled:
    counts: Counts
    seconds: float


def settle(aftercare: Aftercare, expected: int, timeout: float = SETTLE_SECONDS) -> Settled:
    """Wait until every answer is stored and nothing is pending or waiting in the outbox."""
    started = time.monotonic()
    last: Counts | None = None
    last_print = 0.0
    while time.monotonic() - started < timeout:
        counts = aftercare.counts()
        if counts is not None:
            last = counts
            done = counts.stored >= expected and counts.pending == 0
            if done and counts.outbox_left == 0:
                break
            if time.monotonic() - last_print > 10:
                print(f"[faults] settling: {counts}")
                last_print = time.monotonic()
        time.sleep(0.5)
    assert last is not None, "the database never answered while settling"
    return Settled(last, time.monotonic() - started)


def reconcile(aftercare: Aftercare, burst: Burst, name: str) -> Counts:
    """The one check every fault test ends with: nothing lost, nothing doubled, nothing failed."""
    burst.join()
    accepted = burst.accepted
    settled = settle(aftercare, len(accepted))
    counts = settled.counts
    stored = {row["token"]: row for row in aftercare.query(STORED_SQL)}
    misrouted = aftercare.query(MISROUTED_SQL)
    print(
        f"\n[faults] {name}: sent={len(burst.answers)} accepted={len(accepted)} "
        f"stored={counts.stored} analysed={counts.analysed} pending={counts.pending} "
        f"failed={counts.failed} negative={counts.negative} tasks={counts.tasks} "
        f"outbox_left={counts.outbox_left} retried_requests={len(burst.retries)} "
        f"(settled {settled.seconds:.1f} s after the burst)"
    )
    assert not burst.rejected, f"the API rejected answers: {burst.rejected[:5]}"
    assert len(accepted) == len(burst.answers)
    assert set(stored) == set(accepted), "accepted answers and stored responses differ"
    wrong = [
        t for t, a in accepted.items() if (stored[t]["nps"], stored[t]["csat"]) != (a.nps, a.csat)
    ]
    assert not wrong, f"{len(wrong)} responses stored with other scores than sent"
    assert counts.failed == 0, f"{counts.failed} responses ended 'failed'"
    assert counts.pending == 0, f"{counts.pending} responses still pending"
    assert counts.analysed == counts.stored == counts.analyses == len(accepted)
    assert not misrouted, f"responses without exactly one task per negative: {misrouted[:5]}"
    detractors = {t for t, a in accepted.items() if a.detractor}
    missed = [t for t in detractors if not stored[t]["is_negative"]]
    assert not missed, f"{len(missed)} detractors not marked negative"
    assert counts.tasks == counts.negative >= len(detractors)
    assert counts.outbox_left == 0, f"{counts.outbox_left} outbox rows never dispatched"
    return counts


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def sweep_after_seconds() -> float:
    """AFTERCARE_ANALYSIS_SWEEP_AFTER_SECONDS; a test module overrides it for a faster sweep."""
    return 10.0


@pytest.fixture
def postgres(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Postgres]:
    for binary in ("initdb", "pg_ctl", "createdb"):
        require_binary(PG_BIN / binary)
    require_binary("runuser")
    server = Postgres(free_port())
    try:
        server.create()
        yield server
    finally:
        if server.log.exists():
            shutil.copy(server.log, tmp_path / "postgres.log")
        server.destroy()
        _print_log_on_failure(request, tmp_path / "postgres.log")


@pytest.fixture
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Broker]:
    """Redis unless the test parametrizes it (indirect) with "rabbitmq"."""
    kind = getattr(request, "param", "redis")
    root = tmp_path / kind
    root.mkdir()
    server: Broker
    if kind == "rabbitmq":
        require_binary(RABBITMQ_BIN / "rabbitmq-server")
        server = RabbitMQ(root, free_port(also_free_at=RabbitMQ.DIST_PORT_OFFSET))
    else:
        require_binary("redis-server")
        server = Redis(root, free_port())
    try:
        server.start()
        yield server
    finally:
        server.destroy()
        _print_log_on_failure(request, server.log)


@pytest.fixture
def aftercare(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    postgres: Postgres,
    broker: Broker,
    sweep_after_seconds: float,
) -> Iterator[Aftercare]:
    """Migrated, serving, one worker running, a support team with an owner."""
    stack = Aftercare(
        tmp_path,
        postgres.url,
        broker.url,
        AFTERCARE_ANALYSIS_SWEEP_AFTER_SECONDS=str(sweep_after_seconds),
    )
    try:
        stack.migrate()
        stack.start_serve()
        stack.start_worker()
        stack.create_owner()
        yield stack
    finally:
        stack.stop()
        if _failed(request):
            print(stack.log_tails())


def _failed(request: pytest.FixtureRequest) -> bool:
    return any(
        getattr(getattr(request.node, f"report_{when}", None), "failed", False)
        for when in ("setup", "call")
    )


def _print_log_on_failure(request: pytest.FixtureRequest, log: Path) -> None:
    if _failed(request):
        print(f"--- {log.name} ---\n{tail(log, 30)}")
