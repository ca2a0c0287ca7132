"""Dependencies handed to controllers through Litestar's DI (no globals).

The composition root (api.app.create_app) puts them in the app's state; controllers see only
the small protocols below, never the worker package behind them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from litestar.datastructures import State
from litestar.di import Provide

from aftercare.clock import Clock
from aftercare.outbox import OutboxRelay
from aftercare.settings import Settings


@runtime_checkable  # Litestar checks an injected dependency against its annotation
class HousekeepingRounds(Protocol):
    """How the relay and sweep are doing, for the readiness probe."""

    def seconds_since_success(self) -> float: ...

    @property
    def is_stale(self) -> bool: ...


# Answers whether the broker can be reached (it blocks: call it in a thread).
BrokerCheck = Callable[[], bool]


def provide_settings(state: State) -> Settings:
    settings: Settings = state.settings
    return settings


def provide_clock(state: State) -> Clock:
    clock: Clock = state.clock
    return clock


def provide_outbox_relay(state: State) -> OutboxRelay:
    relay: OutboxRelay = state.housekeeper
    return relay


def provide_housekeeping(state: State) -> HousekeepingRounds:
    rounds: HousekeepingRounds = state.housekeeper
    return rounds


def provide_broker_check(state: State) -> BrokerCheck:
    check: BrokerCheck = state.broker_check
    return check


DEPENDENCIES: dict[str, Any] = {
    "settings": Provide(provide_settings, sync_to_thread=False),
    "clock": Provide(provide_clock, sync_to_thread=False),
    "outbox_relay": Provide(provide_outbox_relay, sync_to_thread=False),
    "housekeeping": Provide(provide_housekeeping, sync_to_thread=False),
    "broker_check": Provide(provide_broker_check, sync_to_thread=False),
}
