"""The shared database layer follows a primary that changed hands (done by hand here; the
failover monitors automate it), and refuses to choose when two nodes take writes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from medsys.core.db import SplitBrainError
from tests.conftest import MedsysCluster, count_rows, eventually, own_system_for, scratch_table

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def system() -> Iterator[MedsysCluster]:
    with own_system_for(__file__) as system:
        system.stop("mysql-monitor", "postgres-monitor")  # we play the monitor here
        yield system


def _sql(system: MedsysCluster, node: str, *statements: str) -> None:
    with system.node_engine(node).connect() as connection:
        for statement in statements:
            connection.execute(text(statement))


def test_mysql_protocol_pair_routed_to_the_node_promoted_by_hand(system: MedsysCluster) -> None:
    db = system.database("portal")
    table = scratch_table(db)
    db.write(lambda s: s.execute(text(f"INSERT INTO {table} VALUES (1, 'before')")))
    assert db.primary == "mysql_primary"
    eventually(lambda: count_rows(system.node_engine("mysql_replica"), table) == 1, what="copy")

    _sql(system, "mysql_primary", "SET GLOBAL read_only = ON")
    _sql(system, "mysql_replica", "STOP SLAVE", "RESET SLAVE ALL", "SET GLOBAL read_only = OFF")

    db.write(lambda s: s.execute(text(f"INSERT INTO {table} VALUES (2, 'after')")))
    assert db.primary == "mysql_replica"
    assert count_rows(system.node_engine("mysql_replica"), table) == 2

    _sql(system, "mysql_primary", "SET GLOBAL read_only = OFF")
    with pytest.raises(SplitBrainError):
        db.forget_primary()
        db.write(lambda s: s.execute(text(f"INSERT INTO {table} VALUES (3, 'never')")))
    assert count_rows(system.node_engine("mysql_replica"), table) == 2
    _sql(system, "mysql_primary", "SET GLOBAL read_only = ON")
    db.dispose()


def test_postgres_pair_routed_to_the_standby_promoted_by_hand(system: MedsysCluster) -> None:
    db = system.database("admin")
    table = scratch_table(db)
    db.write(lambda s: s.execute(text(f"INSERT INTO {table} VALUES (1, 'before')")))
    eventually(lambda: count_rows(system.node_engine("postgres_replica"), table) == 1, what="copy")

    system.kill("postgres_primary")
    _sql(system, "postgres_replica", "SELECT pg_promote()")

    db.write(lambda s: s.execute(text(f"INSERT INTO {table} VALUES (2, 'after')")))
    assert db.primary == "postgres_replica"
    assert count_rows(system.node_engine("postgres_replica"), table) == 2
    db.dispose()
