"""The broker down for 30 s while answers keep coming in."""

from __future__ import annotations

import time

import pytest

from tests.faults.conftest import Aftercare, Broker, reconcile


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"], indirect=True)
def test_a_broker_down_for_30_s_under_load_loses_no_answer(
    aftercare: Aftercare, broker: Broker
) -> None:
    # 120 answers over 15 s: most of them arrive while the broker is down.
    burst = aftercare.start_burst(per_second=8)
    burst.wait_submitted(10)
    broker.stop()
    time.sleep(30)
    broker.start()
    reconcile(aftercare, burst, f"{broker.name} down for 30 s")
    # The response and its outbox row are one transaction: no answer needed the broker.
    assert not burst.retries, f"the API failed answers while the broker was down: {burst.retries}"
