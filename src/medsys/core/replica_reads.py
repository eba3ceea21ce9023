"""Reads on the replica that never show less than the primary would have.

The primary's position (MariaDB's binlog GTID position, MySQL's executed GTID set,
PostgreSQL's WAL position) is read inside the transaction that writes the read's audit
row. Every transaction committed before it lies at or before that position, so a replica
that has applied it shows everything a primary read would, the reader's own earlier
writes included. The replica is asked to wait for it at most a bounded time; a replica
that is further behind, stopped, or unreachable leaves the read to the primary.

Each engine has a server-side way to wait or compare, available to an unprivileged
account: MariaDB ``MASTER_GTID_WAIT``, MySQL ``WAIT_FOR_EXECUTED_GTID_SET``, and for
PostgreSQL (15 has no waiting function) a comparison of ``pg_last_wal_replay_lsn()``
polled a few milliseconds apart.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import Connection, text

REGISTRY = CollectorRegistry()
READS = Counter(
    "medsys_audited_reads_total",
    "Audited record reads by where they were served: the replica, or the primary because "
    "the replica was behind or unreachable",
    ["served_by"],
    registry=REGISTRY,
)

_POSITION = {
    "mariadb": "SELECT @@global.gtid_binlog_pos",
    "mysql": "SELECT @@global.gtid_executed",
    "postgresql": "SELECT pg_current_wal_lsn()::text",
}
# Both answer 0 once the position is applied, another number after the timeout.
_WAIT = {
    "mariadb": "SELECT MASTER_GTID_WAIT(:position, :seconds)",
    "mysql": "SELECT WAIT_FOR_EXECUTED_GTID_SET(:position, :seconds)",
}
_REPLAYED = "SELECT COALESCE(pg_last_wal_replay_lsn() >= CAST(:position AS pg_lsn), false)"
_POLL_EVERY = (0.001, 0.002, 0.004, 0.008)  # then every 8 ms


def engine_of(connection: Connection) -> str:
    dialect = connection.dialect
    if dialect.name == "mysql":
        return "mariadb" if getattr(dialect, "is_mariadb", False) else "mysql"
    return dialect.name


def position(connection: Connection) -> str | None:
    """Where the primary is now; None where the engine is not one we know."""
    query = _POSITION.get(engine_of(connection))
    if query is None:
        return None
    found = connection.execute(text(query)).scalar()
    return None if found is None else str(found)


def caught_up(connection: Connection, position: str, wait: float) -> bool:
    """The node behind ``connection`` has applied ``position``, waiting at most ``wait``
    seconds for it. A node that is not replicating never catches up."""
    engine = engine_of(connection)
    if engine in _WAIT:
        answer = connection.execute(
            text(_WAIT[engine]), {"position": position, "seconds": wait}
        ).scalar()
        return answer == 0
    deadline = time.monotonic() + wait
    pauses = iter(_POLL_EVERY)
    while True:
        if connection.execute(text(_REPLAYED), {"position": position}).scalar():
            return True
        pause = next(pauses, _POLL_EVERY[-1])
        if time.monotonic() + pause > deadline:
            return False
        time.sleep(pause)
