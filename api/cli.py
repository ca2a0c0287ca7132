"""The `aftercare` console script: serve, worker, migrate, demo, reanalyse, and more."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import getpass
import os
import shutil
import sys
from collections.abc import Sequence

import msgspec

import aftercare  # noqa: F401  (points Piccolo at aftercare.piccolo_conf)
from aftercare.accounts import ROLES
from aftercare.clock import system_clock
from aftercare.db import bind_engine, create_engine
from aftercare.settings import Settings, SettingsError, load_settings, with_api_token
from worker.main import DRAMATIQ_ENTRY, configure_logging


def build_parser() -> argparse.ArgumentParser:
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
    commands.add_parser(
        "housekeeping", help="run the outbox relay, analysis sweep and discovery schedule alone"
    )
    reanalyse = commands.add_parser(
        "reanalyse", help="analyse stored responses again with the current model"
    )
    reanalyse.add_argument(
        "--since", required=True, type=_date, help="responses submitted on or after this date"
    )
    reanalyse.add_argument("--batch-size", type=int, default=64)
    discover = commands.add_parser("discover-themes", help="cluster recent comments into themes")
    discover.add_argument("--days", type=float, help="default: AFTERCARE_DISCOVERY_WINDOW_DAYS")
    users = commands.add_parser("users", help="create users and set their passwords")
    user_commands = users.add_subparsers(dest="users_command", required=True)
    create = user_commands.add_parser("create", help="create a user with a role and teams")
    create.add_argument("--email", required=True)
    create.add_argument("--name", help="default: the part of the email before @")
    create.add_argument("--role", choices=ROLES, default="owner")
    create.add_argument(
        "--team",
        action="append",
        default=[],
        help="a team slug (the team must exist); repeat for several teams",
    )
    password = user_commands.add_parser(
        "set-password", help="set a user's password (asked twice, or one line on stdin)"
    )
    password.add_argument("--email", required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"aftercare: {error}", file=sys.stderr)
        return 2
    configure_logging(settings)
    if args.command == "serve":
        return _serve(settings, args.host, args.port, args.migrate)
    if args.command == "worker":
        return _worker(args.processes, args.threads)
    # The remaining commands run here, on this process's engine.
    bind_engine(create_engine(settings.database_url))
    if args.command == "migrate":
        return _run(_migrate(settings))
    if args.command == "demo":
        return _run(_demo(with_api_token(settings)))
    if args.command == "housekeeping":
        return _run(_housekeeping(settings))
    if args.command == "reanalyse":
        return _run(_reanalyse(settings, args.since, args.batch_size))
    if args.command == "discover-themes":
        return _run(_discover(settings, args.days))
    if args.command == "users":
        return _users(args)
    parser.error(f"unknown command {args.command}")
    return 2


def _run(coroutine: object) -> int:
    try:
        asyncio.run(coroutine)  # type: ignore[arg-type]
    except (OSError, ConnectionError) as error:
        print(f"aftercare: cannot reach the database: {error}", file=sys.stderr)
        return 1
    except SettingsError as error:
        print(f"aftercare: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


async def _migrate(settings: Settings) -> None:
    from aftercare.schema import migrate

    await migrate()
    await _check_fallback_owner(settings)


async def _check_fallback_owner(settings: Settings) -> None:
    from aftercare.directory import ensure_fallback_owner

    print(await ensure_fallback_owner(settings.fallback_owner_email, now=system_clock()))


async def _demo(settings: Settings) -> None:
    from aftercare.demo import DEMO_LEAD_EMAIL, seed_demo
    from aftercare.schema import migrate

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
        f"  Demo logins for {base}/login (new passwords each run; for API tokens: "
        "POST /api/v1/users/{id}/tokens):",
        *[f"    {email:<22} {password}" for email, password in result.logins.items()],
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

    # Migrations and the fallback check run on an engine of their own, before the app's.
    bind_engine(create_engine(settings.database_url))
    if migrate_first and _run(_migrate(settings)) != 0:
        return 1
    if _run(_check_fallback_owner(settings)) == 2:
        return 2
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
        DRAMATIQ_ENTRY,
        "--processes",
        str(processes),
        "--threads",
        str(threads),
    ]
    os.execv(command[0], command)
    return 0  # pragma: no cover - execv does not return


def _date(value: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not a date: {value!r} (use YYYY-MM-DD)") from error
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


async def _reanalyse(settings: Settings, since: dt.datetime, batch_size: int) -> None:
    from tqdm import tqdm

    from aftercare.analysis import analyse_responses, responses_submitted_since
    from aftercare.tasks import FollowUpPolicy
    from worker.models import packaged_analyser

    response_ids = await responses_submitted_since(since)
    analyser = packaged_analyser(settings)
    policy = FollowUpPolicy.from_settings(settings)
    with tqdm(total=len(response_ids), unit="response", desc="re-analysing") as progress:
        for start in range(0, len(response_ids), batch_size):
            batch = response_ids[start : start + batch_size]
            await analyse_responses(
                batch, analyser, policy=policy, clock=system_clock, replace=True
            )
            progress.update(len(batch))
    print(f"re-analysed {len(response_ids)} responses with {analyser.model_version}")


def _users(args: argparse.Namespace) -> int:
    from aftercare.accounts import set_password
    from aftercare.directory import NewUser, create_owner
    from aftercare.errors import DomainError

    try:
        if args.users_command == "create":
            fields = {
                "email": args.email,
                "name": args.name or args.email.split("@")[0],
                "role": args.role,
                "teams": args.team,
            }
            new = msgspec.convert(fields, NewUser, strict=True)
            user = asyncio.run(create_owner(new, now=system_clock()))
            teams = ", ".join(user.teams) or "-"
            print(f"created {user.role} {user.email} (id {user.id}, teams {teams})")
        else:
            asyncio.run(set_password(args.email, _read_password()))
            print(f"password set for {args.email.lower()}")
    except (DomainError, msgspec.ValidationError) as error:
        print(f"aftercare: {getattr(error, 'detail', error)}", file=sys.stderr)
        return 2
    return 0


def _read_password() -> str:
    """One line from a pipe, or typed twice at a terminal (never an argument: shells log them)."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("New password: ")
    if getpass.getpass("Again: ") != first:
        raise SystemExit("aftercare: the passwords differ; nothing changed")
    return first


async def _discover(settings: Settings, days: float | None) -> None:
    from aftercare.themes import run_discovery, start_discovery_run
    from nlp.pipeline import find_themes

    window = dt.timedelta(days=days if days is not None else settings.discovery_window_days)
    run_id = await start_discovery_run(clock=system_clock, window=window)
    found = await run_discovery(run_id, find_themes, clock=system_clock)
    print(f"discovery run {run_id}: {len(found)} themes")
    for theme in found:
        print(f"  #{theme.id} {theme.label} ({theme.size} sentences)")
        for sentence in theme.representatives:
            print(f"      - {sentence}")


async def _housekeeping(settings: Settings) -> None:
    from aftercare.db import engine
    from worker.housekeeping import Housekeeper
    from worker.main import build_actors

    actors = build_actors(settings, engine())
    await Housekeeper(settings, system_clock, actors.send).run()


if __name__ == "__main__":
    raise SystemExit(main())
