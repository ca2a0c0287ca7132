"""Dependencies handed to controllers through Litestar's DI (no globals)."""

from __future__ import annotations

from typing import Any

from litestar.datastructures import State
from litestar.di import Provide

from aftercare.clock import Clock
from aftercare.settings import Settings
from worker.housekeeping import Housekeeper


def provide_settings(state: State) -> Settings:
    settings: Settings = state.settings
    return settings


def provide_clock(state: State) -> Clock:
    clock: Clock = state.clock
    return clock


def provide_housekeeper(state: State) -> Housekeeper:
    housekeeper: Housekeeper = state.housekeeper
    return housekeeper


DEPENDENCIES: dict[str, Any] = {
    "settings": Provide(provide_settings, sync_to_thread=False),
    "clock": Provide(provide_clock, sync_to_thread=False),
    "housekeeper": Provide(provide_housekeeper, sync_to_thread=False),
}
