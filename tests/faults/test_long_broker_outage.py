"""A broker outage longer than AFTERCARE_ANALYSIS_MAX_ATTEMPTS sweeps."""

from __future__ import annotations

import time

import pytest

from tests.faults.conftest import Aftercare, Broker, reconcile


@pytest.fixture
def sweep_after_seconds() -> float:
    # 30 s down with a sweep every 2 s: about 15 sweeps, three times the 5 allowed attempts.
    return 2.0


def test_a_broker_outage_longer_than_the_allowed_attempts_fails_no_answer(
    aftercare: Aftercare, broker: Broker
) -> None:
    burst = aftercare.start_burst(per_second=20)
    burst.wait_submitted(30)
    broker.stop()
    time.sleep(30)
    broker.start()
    # Attempts count tries by a worker: sweeps nobody could take cost nothing.
    reconcile(aftercare, burst, "long broker outage, sweep every 2 s")
