"""PostgreSQL stopped and started again, five times, while answers come in."""

from __future__ import annotations

import time

from tests.faults.conftest import Aftercare, Postgres, reconcile

# (shutdown mode, whether to stop while the relay waits inside its claim transaction): a stop
# at a random moment cuts a housekeeping transaction only now and then, the case that used to
# leave the loop on a dead connection for good, so two stops wait for one.
RESTARTS = [
    ("fast", True),
    ("immediate", False),
    ("fast", False),
    ("immediate", True),
    ("fast", False),
]


def test_postgres_restarting_under_load_loses_no_answer(
    aftercare: Aftercare, postgres: Postgres
) -> None:
    # 120 answers over 20 s, so the restarts fall inside the burst.
    burst = aftercare.start_burst(per_second=6)
    burst.wait_submitted(10)
    for mode, during_claim in RESTARTS:
        if during_claim:
            postgres.stop_while_the_relay_claims(mode)
        else:
            postgres.stop(mode)
        time.sleep(1)
        postgres.start()
        time.sleep(2)
    back = aftercare.serve_log_size()
    aftercare.wait_ready(60)
    reconcile(aftercare, burst, f"PostgreSQL restarted {len(RESTARTS)} times")
    aftercare.wait_ready(30)
    # A dead connection kept by the housekeeping loop shows as the same error, round after round.
    assert not aftercare.repeated_serve_errors(since=back), aftercare.repeated_serve_errors(back)
