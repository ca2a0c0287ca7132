"""The Litestar app factory: tests and the CLI build apps with their own settings."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
from litestar import Litestar, Router
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.config import OpenAPIConfig
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsPlugin
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

import aftercare  # noqa: F401  (points Piccolo at aftercare.piccolo_conf)
from aftercare.analysis import CommentAnalyser
from aftercare.clock import Clock, system_clock
from aftercare.db import bind_engine, close_pool, create_engine, start_pool
from aftercare.errors import DomainError
from aftercare.settings import Settings, with_api_token, with_secret_key
from api.auth import require_api_token
from api.cases import CaseController
from api.deps import DEPENDENCIES
from api.directory import OwnerController, TeamController
from api.health import health, ready
from api.mail import MailController
from api.openapi import allow_every_method, complete_openapi
from api.params import refuse_control_characters, refuse_unknown_query_parameters
from api.problems import domain_problem, invalid_parameters_response, unexpected_error_handlers
from api.request_id import add_request_id_header, provide_request_id
from api.responses import ResponseController
from api.root_causes import RootCauseController
from api.tasks import TaskController
from api.themes import ThemeController
from api.topics import TopicController
from api.users import UserController
from web import STATIC_DIR, TEMPLATES_DIR
from web.access_log import mask_survey_tokens_in_access_log
from web.admin_pages import AdminPageController
from web.sessions import SESSION_STORE, SESSIONLESS_PATHS, DatabaseSessionStore, session_config
from web.sign_in_pages import SignInController
from web.signed_in import SignInRequired, provide_signed_in_caller, redirect_to_sign_in
from web.survey_pages import SurveyPageController, error_page, home
from web.task_pages import InboxController, TaskPageController
from worker.broker import broker_is_reachable
from worker.embedded import start_embedded_worker
from worker.housekeeping import Housekeeper
from worker.main import build_actors

log = logging.getLogger(__name__)

API_VERSION = "1.0.0"


def create_app(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    analyser: CommentAnalyser | None = None,
) -> Litestar:
    """The composition root of the web process: from Settings, build the database engine, the
    broker and its actors, the outbox relay and (embedded) workers, and the app that uses them.

    Nothing connects here: the connection pool, the relay loop and any embedded worker start
    in the app's lifespan, on the server's event loop.
    """
    # Only the web process needs the API token and the secret key; workers never create them.
    settings = with_secret_key(with_api_token(settings))
    secure_cookies = settings.public_url.startswith("https://")
    db = create_engine(settings.database_url)
    bind_engine(db)
    actors = build_actors(settings, db, clock=clock, analyser=analyser)
    housekeeper = Housekeeper(settings, clock, actors.send)
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
            RootCauseController,
            UserController,
            MailController,
        ],
        guards=[require_api_token, refuse_unknown_query_parameters],
    )
    pages = Router(
        path="/",
        route_handlers=[
            SurveyPageController,
            home,
            SignInController,
            InboxController,
            AdminPageController,
            TaskPageController,
        ],
        dependencies={"caller": Provide(provide_signed_in_caller)},
        exception_handlers={
            DomainError: error_page,
            HTTPException: error_page,
            ValidationException: error_page,
            **unexpected_error_handlers(render=error_page),
        },
    )
    static = create_static_files_router(
        path="/static", directories=[STATIC_DIR], include_in_schema=False
    )
    # Raw database errors have no handler of their own: the 5xx handlers map them (409, 503).
    problem_map: dict[type[Exception], Any] = {DomainError: domain_problem}

    app = Litestar(
        route_handlers=[api, pages, static, health, ready],
        dependencies={
            **DEPENDENCIES,
            "request_id": Provide(provide_request_id, sync_to_thread=False),
        },
        guards=[refuse_control_characters],
        before_send=[add_request_id_header, allow_every_method],
        exception_handlers={
            # Any page that needs a signed-in user, wherever it is mounted.
            SignInRequired: redirect_to_sign_in,
            ValidationException: invalid_parameters_response,
            **unexpected_error_handlers(),
        },
        plugins=[
            ProblemDetailsPlugin(
                ProblemDetailsConfig(
                    enable_for_all_http_exceptions=True,
                    exception_to_problem_detail_map=problem_map,
                )
            )
        ],
        template_config=TemplateConfig(directory=TEMPLATES_DIR, engine=JinjaTemplateEngine),
        stores={SESSION_STORE: DatabaseSessionStore(clock)},
        middleware=[session_config(secure=secure_cookies).middleware],
        # Every page form carries the token; the bearer-token API and the survey links (whose
        # authority is the link itself) need none.
        csrf_config=CSRFConfig(
            secret=settings.secret_key,
            cookie_name="aftercare_csrf",
            cookie_secure=secure_cookies,
            cookie_httponly=True,
            exclude=SESSIONLESS_PATHS,
        ),
        openapi_config=OpenAPIConfig(
            title="Aftercare API",
            version=API_VERSION,
            path="/schema",
            description="Closed cases in, surveys out, negative answers routed to owners.",
        ),
        state=State(
            {
                "settings": settings,
                "clock": clock,
                "db": db,
                "actors": actors,
                "housekeeper": housekeeper,
                "broker_check": lambda: broker_is_reachable(actors.broker),
            }
        ),
        lifespan=[_background_work],
    )
    complete_openapi(app)
    return app


@contextlib.asynccontextmanager
async def _background_work(app: Litestar) -> AsyncIterator[None]:
    """The connection pool and housekeeping (outbox relay, sweep) always; a dramatiq.Worker
    too in embedded mode."""
    settings: Settings = app.state.settings
    housekeeper: Housekeeper = app.state.housekeeper
    await start_pool(app.state.db, settings.database_pool_size)
    worker = None
    if settings.runs_embedded_worker:
        worker = start_embedded_worker(app.state.actors.broker)
    loop_task = asyncio.create_task(housekeeper.run())
    try:
        yield
    finally:
        housekeeper.stop()
        await loop_task
        if worker is not None:
            # Worker.stop() blocks for about two seconds: keep it off the event loop.
            await anyio.to_thread.run_sync(worker.stop)
        await close_pool(app.state.db)
