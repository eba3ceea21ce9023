"""A node of a pair as everything that controls the pair speaks of it: the role it has, and
what one look at it found (a probe, filled in by the engine's adapter)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    PRIMARY = "primary"
    REPLICA = "replica"


@dataclass(frozen=True)
class NodeProbe:
    """One look at a node. ``reachable`` False means every other field is unknown."""

    node: str
    reachable: bool
    writable: bool = False
    upstream_port: int | None = None  # the primary a replica is configured to follow
    receiving: bool = False  # replica: connected to its upstream and streaming
    follows_someone: bool = False  # replica: replication is configured at all
    replica_streaming: bool = False  # primary: a replica is attached and streaming
    sync_configured: bool = False  # primary: synchronous/semi-sync replication switched on
    sync_active: bool = False  # primary: commits wait for the replica right now
    position: str | None = None  # GTID position or LSN, engine's own notation
    # replica: everything it holds, received or applied (positions joined by commas)
    received: str | None = None
    # primary: the position its synchronous replica confirmed, where the engine says
    acknowledged: str | None = None
    lag: str | None = None  # for people: "0 B", "3 s"
    lag_seconds: float | None = None  # MariaDB/MySQL replica: seconds behind its source
    lag_bytes: int | None = None  # PostgreSQL: WAL not yet replayed (replica) or sent (primary)
    error: str | None = None
