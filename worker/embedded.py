"""The embedded default: a dramatiq.Worker on the app's own broker, inside the web process."""

from __future__ import annotations

import dramatiq


def start_embedded_worker(broker: dramatiq.Broker) -> dramatiq.Worker:
    # One thread: the model is the bottleneck and batches already use both cores.
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    return worker
