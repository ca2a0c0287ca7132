"""The embedded default: a dramatiq.Worker on the stub broker, inside the web process."""

from __future__ import annotations

import dramatiq

from worker.actors import analyse_responses  # noqa: F401  (declares the actors on the broker)
from worker.broker import broker


def start_embedded_worker() -> dramatiq.Worker:
    # One thread: the model is the bottleneck and batches already use both cores.
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    return worker
