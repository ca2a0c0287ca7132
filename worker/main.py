"""The worker side of the composition root.

`build_actors` gives a process its broker and actors from Settings; the web app calls it (to
send, and to run the embedded worker) and so does `start`, which `aftercare worker` runs as
`dramatiq worker.main:start` in every worker process. The database engine gets a connection
pool on the workers' own event loop: an asyncpg pool cannot be shared across loops.
"""

from __future__ import annotations

import logging
from typing import Any

import dramatiq
from dramatiq.asyncio import get_event_loop_thread
from piccolo.engine.base import Engine

from aftercare.analysis import CommentAnalyser
from aftercare.clock import Clock, system_clock
from aftercare.db import bind_engine, close_pool, create_engine, start_pool
from aftercare.mail import mail_channel
from aftercare.settings import Settings, load_settings
from worker.actors import ActorContext, Actors, declare_actors
from worker.broker import build_broker
from worker.models import packaged_analyser, packaged_theme_finder

# The command `aftercare worker` runs: dramatiq calls `start` before it boots the workers.
DRAMATIQ_ENTRY = "worker.main:start"


def build_actors(
    settings: Settings,
    db: Engine[Any],
    *,
    clock: Clock = system_clock,
    analyser: CommentAnalyser | None = None,
) -> Actors:
    """A broker from the settings, with the actors declared on it."""
    broker = build_broker(settings)
    broker.add_middleware(WorkerDatabasePool(db, settings.database_pool_size))
    context = ActorContext(
        settings=settings,
        clock=clock,
        analyser=(lambda: analyser) if analyser else (lambda: packaged_analyser(settings)),
        theme_finder=packaged_theme_finder,
        mail=mail_channel(settings.smtp_url, settings.mail_from),
    )
    return declare_actors(broker, context)


class WorkerDatabasePool(dramatiq.Middleware):
    """Starts the engine's pool on the workers' event loop at boot and closes it at shutdown."""

    def __init__(self, db: Engine[Any], max_size: int) -> None:
        self.db = db
        self.max_size = max_size

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        get_event_loop_thread().run_coroutine(start_pool(self.db, self.max_size))  # type: ignore[union-attr]

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        loop_thread = get_event_loop_thread()
        if loop_thread is not None:
            loop_thread.run_coroutine(close_pool(self.db))


def start() -> None:
    """Compose a worker process from the environment (dramatiq's broker callable)."""
    settings = load_settings()
    configure_logging(settings)
    db = create_engine(settings.database_url)
    bind_engine(db)
    actors = build_actors(settings, db)
    dramatiq.set_broker(actors.broker)


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
