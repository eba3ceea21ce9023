"""Pooled connections reused without a ping and a ROLLBACK around every unit of work
(core.connection_reuse), on the shared system's real servers: what they no longer send,
and that a dead or dirty connection still never reaches the application."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from medsys.core import connection_reuse
from medsys.core.db import ReplicatedDatabase
from tests.conftest import MedsysCluster, count_rows, scratch_table

pytestmark = pytest.mark.integration

OWN_ID = {"portal": "SELECT CONNECTION_ID()", "admin": "SELECT pg_backend_pid()"}
KILL = {"portal": "KILL {}", "admin": "SELECT pg_terminate_backend({})"}


@pytest.fixture(params=["portal", "admin"], ids=["mysql-protocol", "postgresql"])
def pair(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db(cluster: MedsysCluster, pair: str) -> Iterator[ReplicatedDatabase]:
    database = cluster.database(pair)
    yield database
    database.dispose()


def _own_id(db: ReplicatedDatabase, pair: str) -> int:
    return int(db.read(lambda s: s.execute(text(OWN_ID[pair])).scalar_one()))


def _kill(cluster: MedsysCluster, db: ReplicatedDatabase, pair: str, connection: int) -> None:
    with cluster.node_engine(db.primary).connect() as admin:
        admin.execute(text(KILL[pair].format(connection)))


def test_a_connection_in_steady_use_is_neither_pinged_nor_rolled_back_twice(
    cluster: MedsysCluster,
) -> None:
    db = cluster.database("portal")
    try:
        status = "SHOW SESSION STATUS WHERE Variable_name IN ('Com_rollback', 'Com_admin_commands')"

        def counters() -> dict[str, int]:
            return {name: int(value) for name, value in db.read(lambda s: s.execute(text(status)))}

        connection = _own_id(db, "portal")
        before = counters()
        for _ in range(20):
            assert db.read(lambda s: s.execute(text("SELECT 1")).scalar_one()) == 1
        after = counters()
        assert _own_id(db, "portal") == connection  # one pooled connection all along
        # 21 units of work: each Session's own ROLLBACK, no second one from the pool,
        # and no COM_PING (an administrative command) before any of them.
        assert after["Com_rollback"] - before["Com_rollback"] == 21
        assert after["Com_admin_commands"] == before["Com_admin_commands"]
    finally:
        db.dispose()


def test_a_connection_that_died_while_idle_is_replaced_on_checkout(
    cluster: MedsysCluster, db: ReplicatedDatabase, pair: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connection_reuse, "PING_AFTER_IDLE", 0.0)
    dead = _own_id(db, pair)
    _kill(cluster, db, pair, dead)
    # A plain checkout, with no retry around it: only the ping can have saved it.
    with db.engine(db.primary).connect() as connection:
        replacement = int(connection.execute(text(OWN_ID[pair])).scalar_one())
    assert replacement != dead


def test_a_connection_that_died_a_moment_after_use_costs_a_retried_read(
    cluster: MedsysCluster, db: ReplicatedDatabase, pair: str
) -> None:
    dead = _own_id(db, pair)
    _kill(cluster, db, pair, dead)
    # Handed out unpinged (it was in use a moment ago); the read fails on it as a
    # transport failure, and the router reads again on a new connection.
    assert _own_id(db, pair) != dead


def test_a_transaction_left_open_is_rolled_back_when_its_connection_returns(
    cluster: MedsysCluster, db: ReplicatedDatabase, pair: str
) -> None:
    table = scratch_table(db)
    raw = db.engine(db.primary).raw_connection()
    cursor = raw.cursor()
    cursor.execute(f"INSERT INTO {table} VALUES (1, 'never committed')")
    cursor.close()
    raw.close()  # back to the pool with the INSERT open
    # The next unit of work on that connection commits; the INSERT must not ride along.
    db.write(lambda s: s.execute(text(f"INSERT INTO {table} VALUES (2, 'committed')")))
    assert count_rows(cluster.node_engine(db.primary), table) == 1
