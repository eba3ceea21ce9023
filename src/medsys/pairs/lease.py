"""The primary's lease: renewed by the monitor each cycle it sees the primary take writes.

Where the monitor cannot fence a node for certain (containers: the fence is a request to
the node's agent, which may be cut off or frozen), the lease is what stops an isolated
primary: its agent stops the server once the lease has run out while no replica streams
from it, and the monitor waits the lease out before it promotes the other node — the
leader key and watchdog of Patroni. Locally the monitor's fence is a SIGKILL through the
process table of the same host, certain, so there is nothing to wait for and the monitor
keeps no lease at all.

Writes (commits) need no lease: semi-sync and synchronous replication never acknowledge a
commit without the replica. The lease bounds what an isolated primary would still *serve*:
reads that go stale once the other node is promoted.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from medsys.core.settings import Settings
from medsys.core.topology import Pair

LEASE_SECONDS = 4.0


@dataclass(frozen=True)
class Lease:
    holder: str
    term: int
    renewed_at: float  # wall clock: every process of a pair shares the host's clock
    duration: float = LEASE_SECONDS

    @property
    def expires_at(self) -> float:
        return self.renewed_at + self.duration


def lease_path(settings: Settings, pair: Pair) -> Path:
    return settings.cluster_dir / f"{pair.name}.lease.json"


def write_lease(settings: Settings, pair: Pair, lease: Lease) -> None:
    """Atomic (rename) but not fsynced: a renewal lost in a crash only shortens the lease,
    which is the safe direction."""
    path = lease_path(settings, pair)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(json.dumps(asdict(lease)))
    temporary.replace(path)


def read_lease(settings: Settings, pair: Pair) -> Lease | None:
    try:
        return Lease(**json.loads(lease_path(settings, pair).read_text()))
    except (OSError, ValueError, TypeError):
        return None


# The holder gives its lease up this long before the monitor counts it expired, so the
# two never overlap even with the agent's watch interval and a probe in between.
HOLDER_MARGIN = 1.0


def lapsed_for(node: str, lease: Lease | None, now: float) -> bool:
    """As the holder judges it: the lease was granted to ``node`` and runs out within
    ``HOLDER_MARGIN``. A node never granted one (no monitor yet) is not held to it."""
    return lease is not None and lease.holder == node and now + HOLDER_MARGIN >= lease.expires_at
