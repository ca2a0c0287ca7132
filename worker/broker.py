"""The Dramatiq broker, built from settings by the composition root (never at import).

Actors are declared on the broker they are given (worker.actors.declare_actors), so no actor
can bind to Dramatiq's implicit default broker and send to a RabbitMQ nobody configured
(STACK-NOTES).
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware.asyncio import AsyncIO

from aftercare.settings import Settings


def build_broker(settings: Settings) -> dramatiq.Broker:
    """A Stub, RabbitMQ or Redis broker for AFTERCARE_BROKER_URL, ready for async actors."""
    kind = settings.broker_kind
    broker: dramatiq.Broker
    if kind == "stub":
        broker = StubBroker()
    elif kind == "rabbitmq":
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker = RabbitmqBroker(url=settings.broker_url)
    else:
        from dramatiq.brokers.redis import RedisBroker

        broker = RedisBroker(url=settings.broker_url)
    broker.add_middleware(AsyncIO())
    return broker


def broker_is_reachable(broker: dramatiq.Broker) -> bool:
    """Ask the broker something cheap; the stub broker is always there."""
    try:
        kind = type(broker).__name__
        if kind == "RabbitmqBroker":
            broker.get_queue_message_counts("analysis")  # type: ignore[attr-defined]
        elif kind == "RedisBroker":
            broker.client.ping()  # type: ignore[attr-defined]
    except Exception:
        return False
    return True
