"""The monitor's decision, pure: observations and memory in, actions and one sentence out.

No I/O and no clock reads here (time comes in as an argument), so every transition is
unit-tested without servers or sleeps. ``medsys.failover.monitor`` applies the actions.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from medsys.nodes.base import NodeProbe


class Health(StrEnum):
    STARTING = "starting"
    HEALTHY = "healthy"  # primary writable, replica streaming, commits wait for it
    DEGRADED = "degraded"  # primary writable, replica away: commits are on one node only
    PRIMARY_UNREACHABLE = "primary-unreachable"


@dataclass(frozen=True)
class Observation:
    primary: NodeProbe
    replica: NodeProbe


@dataclass(frozen=True)
class Memory:
    health: Health = Health.STARTING
    failed_primary_probes: int = 0


@dataclass(frozen=True)
class SetSynchronous:
    node: str
    on: bool


Action = SetSynchronous


@dataclass(frozen=True)
class Decision:
    memory: Memory
    actions: tuple[Action, ...]
    sentence: str

    @property
    def changed(self) -> bool:
        return bool(self.actions)


def decide(memory: Memory, seen: Observation, *, relax_when_alone: bool) -> Decision:
    """One monitor cycle.

    ``relax_when_alone``: the engine blocks commits forever without a standby (PostgreSQL),
    so synchronous replication is switched off while the replica is away and on again when
    it streams. MariaDB's semi-sync falls back by itself after a bounded wait, so there we
    only keep it enabled on the primary.
    """
    primary, replica = seen.primary, seen.replica
    if not primary.reachable or not primary.writable:
        failures = memory.failed_primary_probes + 1
        why = primary.error or "not writable"
        return Decision(
            Memory(Health.PRIMARY_UNREACHABLE, failures),
            (),
            f"primary {primary.node} failed probe {failures}: {why}",
        )
    streaming = primary.replica_streaming and replica.reachable and replica.receiving
    health = Health.HEALTHY if streaming else Health.DEGRADED
    want_sync = streaming or not relax_when_alone
    actions: tuple[Action, ...] = ()
    if primary.sync_configured != want_sync:
        actions = (SetSynchronous(primary.node, want_sync),)
    new_memory = replace(memory, health=health, failed_primary_probes=0)
    return Decision(new_memory, actions, _sentence(memory, new_memory, seen, actions))


def _sentence(before: Memory, after: Memory, seen: Observation, actions: tuple[Action, ...]) -> str:
    primary, replica = seen.primary.node, seen.replica.node
    sync_change = ""
    if actions:
        sync_change = "; synchronous replication " + ("on" if actions[0].on else "relaxed")
    if after.health is Health.HEALTHY:
        if before.health is Health.HEALTHY:
            return f"pair healthy: {primary} primary, {replica} streaming{sync_change}"
        return f"recovered: {replica} streams from {primary} again{sync_change}"
    reason = seen.replica.error or (
        "unreachable" if not seen.replica.reachable else "not streaming"
    )
    return f"degraded: {primary} writes alone, replica {replica} {reason}{sync_change}"
