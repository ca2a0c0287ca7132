"""Benchmark the loop through a real HTTP server: case ingest, survey submits, and the time from
a submit to its analysis (and routed task), with the real model and a real worker.

    .venv/bin/python -m bench.loop                       # SQLite + in-process worker (default)
    .venv/bin/python -m bench.loop --backend postgres-rabbitmq
    .venv/bin/python -m bench.loop --responses 500 --concurrency 8

Prints a Markdown table. Uses a fresh database each run (SQLite file in a temp dir, or a
PostgreSQL database named aftercare_bench).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import socket
import statistics
import tempfile
import threading
import time
from typing import Any

BACKENDS = {
    "sqlite-stub": ("sqlite", "stub://"),
    "postgres-rabbitmq": ("postgres", "amqp://guest:guest@127.0.0.1:5672/%2F"),
    "postgres-redis": ("postgres", "redis://127.0.0.1:6379/12"),
}
POSTGRES_SERVER = os.environ.get(
    "AFTERCARE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
TOKEN = "bench-token"
COMMENTS = [
    "The engineer never turned up and nobody called to explain. Third time this month.",
    "Sorted in one call, thank you so much!",
    "I was on hold for forty minutes and then got cut off.",
    "Fine.",
    "Billing is still wrong after two promises to fix it. I want to cancel.",
    "Friendly agent, quick refund, no complaints at all.",
    "",
    "The app keeps logging me out and support just told me to reinstall it again.",
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--backend", choices=sorted(BACKENDS), default="sqlite-stub")
    parser.add_argument("--responses", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    results = asyncio.run(run(args.backend, args.responses, args.concurrency))
    print(
        f"\n### Loop benchmark: {args.backend}, {args.responses} responses, "
        f"concurrency {args.concurrency}, {os.cpu_count()} cores\n"
    )
    print("| step | count | per second | p50 ms | p95 ms | max ms |")
    print("|---|---|---|---|---|---|")
    for name, (count, seconds, latencies) in results.items():
        print(
            f"| {name} | {count} | {count / seconds:.1f} | {_pct(latencies, 50):.0f} | "
            f"{_pct(latencies, 95):.0f} | {max(latencies) * 1000:.0f} |"
        )


async def run(
    backend: str, responses: int, concurrency: int
) -> dict[str, tuple[int, float, list[float]]]:
    database, broker_url = BACKENDS[backend]
    workdir = tempfile.mkdtemp(prefix="aftercare-bench-")
    database_url = (
        f"sqlite:///{workdir}/bench.sqlite" if database == "sqlite" else await _fresh_postgres()
    )
    port = _free_port()
    import httpx
    import uvicorn

    from aftercare.db import bind_engine, create_engine
    from aftercare.schema import migrate
    from aftercare.settings import Settings
    from aftercare.topics import list_topics
    from api.app import create_app
    from worker.models import packaged_analyser

    settings = Settings(
        database_url=database_url,
        broker_url=broker_url,
        embedded_worker="on",
        api_token=TOKEN,
        data_dir=workdir,
        public_url=f"http://127.0.0.1:{port}",
        housekeeping_interval_seconds=0.2,
        log_level="WARNING",
    )
    bind_engine(create_engine(database_url))
    await migrate()
    # Load time is not what this measures: load the models and embed the taxonomy first.
    packaged_analyser(settings)(["warm the model up"], await list_topics(active_only=True))
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    results: dict[str, tuple[int, float, list[float]]] = {}
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=60,
        ) as client:
            await client.post("/api/v1/teams", json={"slug": "support", "name": "Support"})
            await client.post(
                "/api/v1/owners", json={"email": "o@example.com", "name": "O", "team": "support"}
            )
            cases: list[dict[str, Any]] = []

            async def close(i: int) -> float:
                started = time.perf_counter()
                response = await client.post(
                    "/api/v1/cases/closed",
                    json={
                        "external_id": f"B-{i}",
                        "customer": {"email": f"c{i}@example.org"},
                        "team": "support",
                    },
                )
                response.raise_for_status()
                cases.append(response.json())
                return time.perf_counter() - started

            results["POST /api/v1/cases/closed"] = await _timed(close, responses, concurrency)
            submitted_at: dict[int, float] = {}

            async def submit(i: int) -> float:
                started = time.perf_counter()
                token = cases[i]["survey_url"].rsplit("/", 1)[1]
                response = await client.post(
                    "/api/v1/responses",
                    json={
                        "token": token,
                        "nps": i % 11,
                        "csat": 1 + i % 5,
                        "comment": COMMENTS[i % len(COMMENTS)],
                    },
                )
                response.raise_for_status()
                submitted_at[response.json()["id"]] = time.perf_counter()
                return time.perf_counter() - started

            results["POST /api/v1/responses"] = await _timed(submit, responses, concurrency)
            results["submit → analysed (+ task)"] = await _analysis_latencies(client, submitted_at)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    return results


async def _timed(step: Any, count: int, concurrency: int) -> tuple[int, float, list[float]]:
    latencies: list[float] = []
    queue = iter(range(count))
    lock = asyncio.Lock()

    async def runner() -> None:
        while True:
            async with lock:
                i = next(queue, None)
            if i is None:
                return
            latencies.append(await step(i))

    started = time.perf_counter()
    await asyncio.gather(*(runner() for _ in range(concurrency)))
    return count, time.perf_counter() - started, latencies


async def _analysis_latencies(
    client: Any, submitted_at: dict[int, float]
) -> tuple[int, float, list[float]]:
    # Latency from the server's own stored timestamps (submitted_at -> analysed_at, the
    # analysis and its task being one transaction): polling times would measure the poller,
    # whose sweeps of 200 GETs take seconds and compete with the worker for the cores.
    stored: dict[int, tuple[dt.datetime, dt.datetime]] = {}
    deadline = time.perf_counter() + 600
    while len(stored) < len(submitted_at) and time.perf_counter() < deadline:
        await asyncio.sleep(0.5)
        for response_id in [r for r in submitted_at if r not in stored]:
            body = (await client.get(f"/api/v1/responses/{response_id}")).json()
            if body["status"] != "pending":
                stored[response_id] = (
                    dt.datetime.fromisoformat(body["submitted_at"]),
                    dt.datetime.fromisoformat(body["analysed_at"]),
                )
    latencies = [(analysed - submitted).total_seconds() for submitted, analysed in stored.values()]
    first = min(submitted for submitted, _ in stored.values())
    last = max(analysed for _, analysed in stored.values())
    return len(stored), (last - first).total_seconds(), latencies


def _pct(values: list[float], percent: int) -> float:
    return (
        statistics.quantiles(values, n=100)[percent - 1] * 1000
        if len(values) > 1
        else values[0] * 1000
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _fresh_postgres() -> str:
    import asyncpg

    connection = await asyncpg.connect(POSTGRES_SERVER)
    await connection.execute('DROP DATABASE IF EXISTS "aftercare_bench" WITH (FORCE)')
    await connection.execute('CREATE DATABASE "aftercare_bench"')
    await connection.close()
    return POSTGRES_SERVER.rsplit("/", 1)[0] + "/aftercare_bench"


if __name__ == "__main__":
    main()
