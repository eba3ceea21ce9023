"""The fixed names and default ports of DESIGN.md: one source for launcher, monitors and apps.

Node names are identities, not roles: which node of a pair is primary lives in the pair's
persisted state (see ``medsys.pairs.state``), never here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Engine(StrEnum):
    MARIADB = "mariadb"  # also serves the MySQL-protocol portal pair
    POSTGRES = "postgres"


@dataclass(frozen=True)
class Pair:
    """A replicated database pair: the first node starts as primary."""

    name: str
    engine: Engine
    nodes: tuple[str, str]
    database: str
    app_user: str
    monitor: str
    # Its applications speak plain MySQL: a real MySQL server or MariaDB standing in.
    mysql_protocol: bool = False

    @property
    def owner_user(self) -> str:
        """Owns the schema and runs the migrations; the application's user only gets the
        rights it needs on the tables (and only SELECT/INSERT on the audit log)."""
        return f"{self.app_user}_owner"

    @property
    def initial_primary(self) -> str:
        return self.nodes[0]

    def other(self, node: str) -> str:
        first, second = self.nodes
        if node == first:
            return second
        if node == second:
            return first
        raise KeyError(f"{node} is not a node of the {self.name} pair")


PAIRS: tuple[Pair, ...] = (
    Pair(
        "clinical",
        Engine.MARIADB,
        ("mariadb-master", "mariadb-replica"),
        "app1",
        "app1",
        "mariadb-monitor",
    ),
    Pair(
        "admin",
        Engine.POSTGRES,
        ("postgres_primary", "postgres_replica"),
        "app2",
        "app2",
        "postgres-monitor",
    ),
    Pair(
        "portal",
        Engine.MARIADB,
        ("mysql_primary", "mysql_replica"),
        "app3",
        "app3",
        "mysql-monitor",
        mysql_protocol=True,
    ),
)

# The journey prober's own corner of every pair (medsys.sla.journeys): a database holding
# one table of heartbeats, and an account that may write that table and nothing else.
PROBE_USER = "medsys_probe"
PROBE_DATABASE = "medsys_probe"
PROBE_TABLE = "heartbeat"
# Its synthetic patient on the portal (medsys.portal.probe): RUT 1 is never a person's.
PROBE_RUT = "1-9"
# One row per prober, rewritten at every probe: the table never grows. (Both dialects.)
PROBE_COLUMNS = (
    "writer VARCHAR(64) PRIMARY KEY, written_at DOUBLE PRECISION NOT NULL, sequence BIGINT NOT NULL"
)

DEFAULT_PORTS: dict[str, int] = {
    "app1": 5001,
    "app1-replica": 5002,
    "app2-1": 3012,
    "app2-2": 3022,
    "nginx": 3002,
    "app3": 3003,
    "middleware": 8000,
    "mariadb-master": 3306,
    "mariadb-replica": 3309,
    "postgres_primary": 5433,
    "postgres_replica": 5434,
    "mysql_primary": 3307,
    "mysql_replica": 3308,
    # Metrics and SLA measurement. Kept below 8000 on purpose: test systems run side by
    # side at port offsets (tests/conftest.py) that need every port in one narrow band.
    "mariadb-monitor": 7301,
    "postgres-monitor": 7302,
    "mysql-monitor": 7303,
    "prometheus": 7090,
    "blackbox": 7115,
    "prober": 7116,
    "backups": 7120,  # the backup scheduler's /metrics
}


# On Kubernetes (deploy/k8s) an application is one Service in front of all its pods: the
# instance names of the single-host table are reached at their application's Service,
# on the port the single host gives its entry point.
KUBERNETES_SERVICES: dict[str, str] = {
    "app1": "clinical",
    "app1-replica": "clinical",
    "app2-1": "admin",
    "app2-2": "admin",
    "nginx": "admin",
    "app3": "portal",
    "middleware": "middleware",
}
KUBERNETES_PORTS: dict[str, int] = {
    "clinical": DEFAULT_PORTS["app1"],
    "admin": DEFAULT_PORTS["nginx"],
    "portal": DEFAULT_PORTS["app3"],
    "middleware": DEFAULT_PORTS["middleware"],
}


def pair_named(name: str) -> Pair:
    for pair in PAIRS:
        if pair.name == name:
            return pair
    raise KeyError(f"no database pair named {name!r}")


def pair_of_node(node: str) -> Pair:
    for pair in PAIRS:
        if node in pair.nodes:
            return pair
    raise KeyError(f"{node!r} is not a database node")


def pair_of_monitor(monitor: str) -> Pair:
    for pair in PAIRS:
        if pair.monitor == monitor:
            return pair
    raise KeyError(f"{monitor!r} is not a monitor")


DATABASE_NODES: tuple[str, ...] = tuple(node for pair in PAIRS for node in pair.nodes)
