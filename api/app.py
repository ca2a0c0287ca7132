"""The Litestar app factory: tests and the CLI build apps with their own settings."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import anyio
from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.openapi.config import OpenAPIConfig
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsPlugin
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

import aftercare  # noqa: F401  (points Piccolo at aftercare.piccolo_conf)
from aftercare.analysis import CommentAnalyser
from aftercare.clock import Clock, system_clock
from aftercare.errors import DomainError
from aftercare.settings import Settings, SettingsError, load_settings, with_api_token
from api.auth import require_api_token
from api.cases import CaseController
from api.deps import DEPENDENCIES
from api.directory import OwnerController, TeamController
from api.health import health, ready
from api.problems import domain_problem, storage_problem
from api.responses import ResponseController
from api.tasks import TaskController
from api.themes import ThemeController
from api.topics import TopicController
from web import STATIC_DIR, TEMPLATES_DIR
from web.access_log import mask_survey_tokens_in_access_log
from web.survey_pages import SurveyPageController, error_page, home
from worker.broker import broker
from worker.housekeeping import Housekeeper
from worker.runtime import runtime

log = logging.getLogger(__name__)

API_VERSION = "1.0.0"


def create_app(
    settings: NamedDependency[Settings] | None = None,
    *,
    clock: NamedDependency[Clock] = system_clock,
    analyser: CommentAnalyser | None = None,
) -> Litestar:
    """Build the whole product's web app: JSON API, survey pages, and (embedded) workers."""
    # Only the web process needs the API token; workers never create the token file.
    settings = with_api_token(settings or load_settings())
    _check_broker_matches(settings)
    runtime.configure(settings=settings, clock=clock, analyser=analyser)
    mask_survey_tokens_in_access_log()

    api = Router(
        path="/api/v1",
        route_handlers=[
            CaseController,
            ResponseController,
            TaskController,
            TeamController,
            OwnerController,
            TopicController,
            ThemeController,
        ],
        guards=[require_api_token],
    )
    pages = Router(
        path="/",
        route_handlers=[SurveyPageController, home],
        exception_handlers={DomainError: error_page, HTTPException: error_page},
    )
    static = create_static_files_router(
        path="/static", directories=[STATIC_DIR], include_in_schema=False
    )
    problem_map: dict[type[Exception], Any] = {
        DomainError: domain_problem,
        sqlite3.IntegrityError: storage_problem,
        sqlite3.OperationalError: storage_problem,
    }
    try:
        from asyncpg.exceptions import UniqueViolationError

        problem_map[UniqueViolationError] = storage_problem
    except ImportError:  # pragma: no cover
        pass

    return Litestar(
        route_handlers=[api, pages, static, health, ready],
        dependencies=DEPENDENCIES,
        plugins=[
            ProblemDetailsPlugin(
                ProblemDetailsConfig(
                    enable_for_all_http_exceptions=True,
                    exception_to_problem_detail_map=problem_map,
                )
            )
        ],
        template_config=TemplateConfig(directory=TEMPLATES_DIR, engine=JinjaTemplateEngine),
        openapi_config=OpenAPIConfig(
            title="Aftercare API",
            version=API_VERSION,
            path="/schema",
            description="Closed cases in, surveys out, negative answers routed to owners.",
        ),
        state=State({"settings": settings, "clock": clock}),
        lifespan=[_background_work],
    )


@contextlib.asynccontextmanager
async def _background_work(app: Litestar) -> AsyncIterator[None]:
    """Housekeeping (outbox relay, sweep) always; a dramatiq.Worker too in embedded mode."""
    settings: NamedDependency[Settings] = app.state.settings
    worker = None
    if settings.runs_embedded_worker:
        from worker.embedded import start_embedded_worker

        worker = start_embedded_worker()
    housekeeper = Housekeeper(settings, app.state.clock)
    app.state.housekeeper = housekeeper
    loop_task = asyncio.create_task(housekeeper.run())
    try:
        yield
    finally:
        housekeeper.stop()
        await loop_task
        if worker is not None:
            # Worker.stop() blocks for about two seconds: keep it off the event loop.
            await anyio.to_thread.run_sync(worker.stop)


def _check_broker_matches(settings: NamedDependency[Settings]) -> None:
    expected = {"stub": "StubBroker", "rabbitmq": "RabbitmqBroker", "redis": "RedisBroker"}
    if type(broker).__name__ != expected[settings.broker_kind]:
        raise SettingsError(
            "the broker is built from AFTERCARE_BROKER_URL at import; "
            f"these settings ask for {settings.broker_kind} but the process has "
            f"{type(broker).__name__}"
        )
