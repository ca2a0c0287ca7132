"""The one Dramatiq broker of this process, built from settings.

Import this before any actor module: an actor declared before `set_broker` binds to an
automatically created RabbitMQ broker on localhost and keeps sending there (STACK-NOTES).
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware.asyncio import AsyncIO

from aftercare.settings import Settings, load_settings


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


broker = build_broker(load_settings())
dramatiq.set_broker(broker)
