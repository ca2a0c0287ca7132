"""One composition root: nothing is built at import; each app gets its own engine, broker and
actors from its Settings; PostgreSQL runs through a pool per event loop."""

from __future__ import annotations

import subprocess
import sys

import pytest

from aftercare.db import PooledPostgresEngine
from api.app import create_app
from tests.conftest import API_TOKEN, ON_POSTGRES, TEST_SETTINGS, cli_environment, settings_with
from tests.helpers import ApiClient

PRODUCT_MODULES = [
    "api.app",
    "api.cli",
    "web.survey_pages",
    "worker.main",
    "worker.actors",
    "worker.housekeeping",
    "aftercare.piccolo_conf",
]


def test_importing_the_product_reads_no_setting_and_builds_nothing() -> None:
    # Settings that cannot work: anything that read them at import would fail loudly.
    env = cli_environment(
        AFTERCARE_DATABASE_URL="mysql://nowhere", AFTERCARE_BROKER_URL="kafka://nowhere"
    )
    script = (
        "import importlib, sys, dramatiq\n"
        f"for name in {PRODUCT_MODULES!r}: importlib.import_module(name)\n"
        "from dramatiq.broker import global_broker\n"
        "assert global_broker is None, global_broker\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


def test_each_app_declares_its_actors_on_a_broker_of_its_own(db: None) -> None:
    first = create_app(TEST_SETTINGS)
    second = create_app(settings_with(embedded_worker="off"))
    first_actors, second_actors = first.state.actors, second.state.actors
    assert first_actors.broker is not second_actors.broker
    for actors in (first_actors, second_actors):
        assert actors.broker.get_actor("analyse_responses") is actors.analyse_responses
        assert actors.analyse_responses.broker is actors.broker


@pytest.mark.skipif(not ON_POSTGRES, reason="connection pools are PostgreSQL's")
def test_the_api_and_its_embedded_worker_each_query_through_their_own_pool(db: None) -> None:
    app = create_app(TEST_SETTINGS)
    db_engine = app.state.db
    assert isinstance(db_engine, PooledPostgresEngine)
    with ApiClient.for_app(app, token=API_TOKEN) as api:
        case = api.close_case("POOL-1")
        response_id = api.submit_json(case["survey_url"], nps=2, csat=1).json()["id"]
        assert api.wait_until_analysed(response_id)["status"] == "analysed"
        # The server's loop and the worker's loop: two pools, never one shared.
        pools = list(db_engine._pools.values())
        assert len(pools) == 2 and pools[0] is not pools[1]
        assert all(pool.get_max_size() == TEST_SETTINGS.database_pool_size for pool in pools)
    assert db_engine._pools == {}
