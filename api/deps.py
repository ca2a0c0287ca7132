"""Dependencies handed to controllers through Litestar's DI (no globals).

The composition root (api.app.create_app) puts them in the app's state; controllers see only
the small protocols below, never the worker package behind them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from litestar.datastructures import State
from litestar.di import Provide

from api.auth import provide_actor, provide_caller


@runtime_checkable  # Litestar checks an injected dependency against its annotation
class HousekeepingRounds(Protocol):
    """How the relay and sweep are doing, for the readiness probe."""

    def seconds_since_success(self) -> float: ...

    @property
    def is_stale(self) -> bool: ...


# Answers whether the broker can be reached (it blocks: call it in a thread).
BrokerCheck = Callable[[], bool]


def _from_state(key: str) -> Provide:
    """A dependency that hands over what the composition root put in the app's state."""

    def provide(state: State) -> Any:
        return state[key]

    return Provide(provide, sync_to_thread=False)


# Each name is what controllers ask for: Settings, Clock, OutboxRelay, HousekeepingRounds,
# BrokerCheck, and the Actor their changes are recorded under.
DEPENDENCIES: dict[str, Any] = {
    "settings": _from_state("settings"),
    "clock": _from_state("clock"),
    "outbox_relay": _from_state("housekeeper"),
    "housekeeping": _from_state("housekeeper"),
    "broker_check": _from_state("broker_check"),
    "actor": Provide(provide_actor, sync_to_thread=False),
    "caller": Provide(provide_caller, sync_to_thread=False),
}
