"""A transaction whose connection dies never outlives its block (the relay's PostgreSQL bug)."""

from __future__ import annotations

import datetime as dt

import pytest

from aftercare.db import engine, write_transaction
from aftercare.tables import Team
from tests.conftest import run

NOW = dt.datetime(2026, 12, 6, tzinfo=dt.UTC)


class Boom(Exception):
    pass


async def _lose_the_connection_inside_a_transaction() -> None:
    async with write_transaction():
        await Team.count()
        # The server went away: the connection under the transaction is closed.
        await engine().current_transaction.get().connection.close()
        raise Boom


def test_a_connection_that_dies_inside_a_transaction_is_not_reused(db: None) -> None:
    async def scenario() -> tuple[object, int]:
        # Piccolo's own rollback raises on the dead connection; the caller sees an error...
        with pytest.raises(Exception):  # noqa: B017 - the engine's own "connection closed" error
            await _lose_the_connection_inside_a_transaction()
        # ...and the same task then runs on a fresh connection, not the dead transaction.
        left_over = engine().current_transaction.get()
        async with write_transaction():
            await Team.insert(Team(slug="after", name="After", created_at=NOW))
        return left_over, await Team.count()

    left_over, teams = run(scenario())
    assert left_over is None
    assert teams == 1


def test_nested_write_transactions_share_the_outer_one(db: None) -> None:
    async def scenario() -> int:
        with pytest.raises(Boom):
            async with write_transaction():
                await Team.insert(Team(slug="outer", name="Outer", created_at=NOW))
                async with write_transaction():
                    await Team.insert(Team(slug="inner", name="Inner", created_at=NOW))
                raise Boom
        return await Team.count()

    assert run(scenario()) == 0
