"""The `aftercare` console script: serve, worker, migrate, demo, housekeeping."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import sys
from collections.abc import Sequence

import aftercare  # noqa: F401  (points Piccolo at aftercare.piccolo_conf)
from aftercare.clock import system_clock
from aftercare.settings import Settings, SettingsError, load_settings, with_api_token


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aftercare", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the API and pages (and embedded workers)")
    serve.add_argument("--host", help="default: AFTERCARE_HOST")
    serve.add_argument("--port", type=int, help="default: AFTERCARE_PORT")
    serve.add_argument("--migrate", action="store_true", help="run migrations first")

    worker = commands.add_parser("worker", help="run Dramatiq worker processes (production)")
    worker.add_argument("--processes", type=int, default=1)
    worker.add_argument("--threads", type=int, default=1)

    commands.add_parser("migrate", help="run database migrations forwards")
    commands.add_parser("demo", help="migrate and seed demo data; print URLs and the API token")
    commands.add_parser("housekeeping", help="run the outbox relay and analysis sweep on their own")

    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"aftercare: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.command == "serve":
        return _serve(settings, args.host, args.port, args.migrate)
    if args.command == "worker":
        return _worker(args.processes, args.threads)
    if args.command == "migrate":
        return _run(_migrate())
    if args.command == "demo":
        return _run(_demo(with_api_token(settings)))
    if args.command == "housekeeping":
        return _run(_housekeeping(settings))
    parser.error(f"unknown command {args.command}")
    return 2


def _run(coroutine: object) -> int:
    try:
        asyncio.run(coroutine)  # type: ignore[arg-type]
    except (OSError, ConnectionError) as error:
        print(f"aftercare: cannot reach the database: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


async def _migrate() -> None:
    from aftercare.db import migrate

    await migrate()


async def _demo(settings: Settings) -> None:
    from aftercare.db import migrate
    from aftercare.demo import DEMO_LEAD_EMAIL, seed_demo

    await migrate()
    result = await seed_demo(public_url=settings.public_url, clock=system_clock)
    base = settings.public_url.rstrip("/")
    lines = [
        "",
        "Aftercare demo data is ready.",
        f"  Product:        {base}/",
        f"  API docs:       {base}/schema",
        f"  API token:      {settings.api_token}",
        f"  Open tasks:     curl -H 'Authorization: Bearer {settings.api_token}' "
        f"'{base}/api/v1/tasks?status=open'",
        "  Surveys waiting for an answer (open one on your phone or in a browser):",
        *[f"    {url}" for url in result.open_survey_urls],
    ]
    if not settings.fallback_owner_email:
        lines.append(
            f"  Tip: AFTERCARE_FALLBACK_OWNER_EMAIL={DEMO_LEAD_EMAIL} routes cases of unknown "
            "teams to the demo lead."
        )
    print("\n".join(lines), flush=True)


def _serve(settings: Settings, host: str | None, port: int | None, migrate_first: bool) -> int:
    import uvicorn

    from api.app import create_app

    if migrate_first and _run(_migrate()) != 0:
        return 1
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level.lower(),
    )
    return 0


def _worker(processes: int, threads: int) -> int:
    dramatiq = shutil.which("dramatiq") or os.path.join(os.path.dirname(sys.executable), "dramatiq")
    command = [
        dramatiq,
        "worker.actors",
        "--processes",
        str(processes),
        "--threads",
        str(threads),
    ]
    os.execv(command[0], command)
    return 0  # pragma: no cover - execv does not return


async def _housekeeping(settings: Settings) -> None:
    from worker.housekeeping import Housekeeper

    await Housekeeper(settings, system_clock).run()


if __name__ == "__main__":
    raise SystemExit(main())
