"""The foundation against real servers: replication, status, a crashed node, audit."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from medsys.core.audit import audit_log, create_audit_log, record_access
from medsys.core.topology import PAIRS
from tests.conftest import MedsysCluster, count_rows, eventually, scratch_table

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("pair_name", [pair.name for pair in PAIRS])
def test_a_row_committed_on_the_primary_is_on_the_replica(
    cluster: MedsysCluster, pair_name: str
) -> None:
    db = cluster.database(pair_name)
    table = scratch_table(db)
    db.write(lambda s: s.execute(text(f"INSERT INTO {table} VALUES (1, 'uno')")))
    replica = cluster.node_engine(cluster.roles(pair_name)[1])
    eventually(lambda: count_rows(replica, table) == 1, what=f"row on {pair_name} replica")
    db.dispose()


def test_status_shows_every_role_and_health(cluster: MedsysCluster) -> None:
    rows = cluster.status()
    for pair in PAIRS:
        primary, replica = (rows[node] for node in cluster.roles(pair.name))
        assert (primary.state, primary.role) == ("RUNNING", "primary")
        assert (replica.state, replica.role) == ("RUNNING", "replica")
        assert replica.health.startswith("ok (streaming")
        assert rows[pair.monitor].state == "RUNNING"
        assert primary.pid and primary.rss_bytes > 0
    text_table = cluster.medsys("status").stdout
    assert "postgres_replica" in text_table and "primary" in text_table


@pytest.mark.parametrize("pair_name", ["admin", "clinical"])
def test_killed_replica_shows_in_status_writes_go_on_and_it_catches_up(
    cluster: MedsysCluster, pair_name: str
) -> None:
    primary_node, replica_node = cluster.roles(pair_name)
    db = cluster.database(pair_name)
    table = scratch_table(db)
    cluster.kill(replica_node)
    eventually(
        lambda: cluster.status()[replica_node].state == "EXITED", what="replica shown EXITED"
    )
    assert cluster.status()[replica_node].health == "down"

    # With the standby gone, a synchronous commit would wait forever unless the monitor
    # relaxes it: the writes must finish (the bound here is generous, not a figure).
    def write_rows() -> None:
        for number in range(1, 6):
            db.write(lambda s, n=number: s.execute(text(f"INSERT INTO {table} VALUES ({n}, 'x')")))

    writer = threading.Thread(target=write_rows, daemon=True)
    writer.start()
    writer.join(timeout=60)
    assert not writer.is_alive(), "writes hung while the replica was down"
    assert count_rows(cluster.node_engine(primary_node), table) == 5

    cluster.start(replica_node)
    replica = cluster.node_engine(replica_node)
    eventually(lambda: count_rows(replica, table) == 5, what="replica caught up")
    eventually(
        lambda: cluster.status()[replica_node].health.startswith("ok (streaming"),
        what="replica streaming again",
    )
    db.dispose()


@pytest.mark.parametrize("pair_name", ["admin", "clinical"])
def test_audit_log_takes_inserts_and_refuses_changes(
    cluster: MedsysCluster, pair_name: str
) -> None:
    db = cluster.database(pair_name)
    engine = db.engine(db.primary)
    with engine.begin() as connection:
        if not engine.dialect.has_table(connection, "audit_log"):
            create_audit_log(connection)

    def read_history(session: Session) -> None:
        record_access(
            session,
            actor="dr-soto",
            actor_role="doctor",
            action="read",
            resource="clinical-history",
            patient_rut="11111111-1",
            via_service="test",
        )

    db.write(read_history)
    with engine.connect() as connection:
        rows = connection.execute(audit_log.select()).fetchall()
    assert any(row.actor == "dr-soto" and row.patient_rut == "11111111-1" for row in rows)
    for statement in ("UPDATE audit_log SET actor = 'nobody'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"):
            db.write(lambda s, sql=statement: s.execute(text(sql)))
    with engine.connect() as connection:
        assert (
            connection.execute(
                text("SELECT COUNT(*) FROM audit_log WHERE actor = 'nobody'")
            ).scalar()
            == 0
        )
    db.dispose()


def test_application_user_cannot_write_on_a_replica(cluster: MedsysCluster) -> None:
    """read_only really fences the app account (it has no global privilege)."""
    from sqlalchemy import create_engine

    from medsys.core.db import mariadb_url

    url = mariadb_url(
        user="app1",
        password=cluster.secrets.app_password("clinical"),
        port=cluster.settings.port(cluster.roles("clinical")[1]),
        database="app1",
    )
    engine = create_engine(url)
    with (
        pytest.raises(DBAPIError, match=r"read-only"),
        engine.begin() as connection,
    ):
        connection.execute(text("CREATE TABLE should_not_exist (id INT)"))
    engine.dispose()
