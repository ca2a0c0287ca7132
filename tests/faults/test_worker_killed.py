"""A worker process killed with SIGKILL in the middle of a batch."""

from __future__ import annotations

from tests.faults.conftest import Aftercare, reconcile


def test_a_worker_killed_mid_batch_loses_no_answer(aftercare: Aftercare) -> None:
    burst = aftercare.start_burst(per_second=30)
    aftercare.wait_for_counts(
        lambda c: c.analysed >= 10 and c.pending >= 10, 120, "the worker to be mid-batch"
    )
    aftercare.kill_worker()
    aftercare.start_worker()
    reconcile(aftercare, burst, "worker killed mid-batch")
