"""The monitor's decision, pure: what it saw and remembers in, actions and one sentence out.

No I/O and no clock reads (time is an argument), so every transition is unit-tested
without servers or sleeps; ``medsys.failover.monitor`` applies the actions.

The rules, in the order they are checked each cycle:

1. A promotion recorded but not finished (the monitor died mid-way) is finished, for the
   node the state already names: never a second promotion for one failure.
2. Primary writable: keep replication healthy. A recorded replica that is writable too is
   an old primary that came back wrong: fence it. Synchronous replication (semi-sync on
   MariaDB/MySQL, which never falls back to asynchronous by itself here) is relaxed only
   after the replica was seen away on ``cycles_to_relax`` cycles in a row and the state
   records it out of sync. A replica not following the primary
   is told to rejoin (at most once per ``rejoin_interval``).
3. Primary not answering: count failed probes. After ``failures_to_declare`` of them the
   primary is dead only if the replica confirms it lost the primary as well (holistic
   detection: a monitor cut off alone must not promote). Where the fence is not certain
   (containers), the old primary's lease is waited out first (``medsys.pairs.lease``).
   Then promote, unless the replica
   may lack acknowledged writes — it was not in sync at last sight, or what it holds does
   not cover the last position acknowledged as synchronous (GTIDs or LSN, compared by
   ``positions.covers``) — or a failover happened within ``anti_flap_window`` and nobody
   acknowledged it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from medsys.failover.positions import PositionError, covers
from medsys.pairs.node import NodeProbe
from medsys.pairs.state import PairState


class Health(StrEnum):
    STARTING = "starting"
    HEALTHY = "healthy"  # primary writable, replica streaming in sync
    DEGRADED = "degraded"  # primary writable, replica away: commits on one node only
    SUSPECT = "suspect"  # primary missed probes, not yet declared dead
    FAILED = "failed"  # primary dead and no automatic promotion possible
    PROMOTING = "promoting"


@dataclass(frozen=True)
class Policy:
    failures_to_declare: int = 3
    anti_flap_window: float = 600.0
    rejoin_interval: float = 15.0
    # A replica reconnects by itself within a second or two after its primary restarts:
    # only a sustained loss of replication calls for a rejoin.
    rejoin_grace: float = 5.0
    # How often the synchronous position is written to the pair state while it moves (the
    # monitor's memory holds the newest; the state serves a monitor that restarted).
    position_record_interval: float = 5.0
    # A replica seen away on one cycle only may be the first sign of the primary's own
    # death: its stream breaks as the primary dies, before a probe of the primary fails.
    # Relaxing then would record the replica out of sync and forbid the very promotion
    # that is needed (seen in CI: SIGKILL of a PostgreSQL primary). So commits wait for it
    # this many cycles first; waiting is always safe.
    cycles_to_relax: int = 2
    # Locally the fence is a SIGKILL on the same host; through a container's agent it is
    # a request that may not arrive, so a promotion first waits out the old primary's lease.
    fence_is_certain: bool = True


@dataclass(frozen=True)
class Observation:
    primary: NodeProbe  # the node the state names primary
    replica: NodeProbe
    lease_expires_at: float | None = None  # the primary's lease, as last renewed
    # The replica's server died while starting, again and again (its data cannot boot).
    replica_failed_to_start: bool = False


@dataclass(frozen=True)
class Memory:
    """What the monitor keeps between cycles (lost on restart, on purpose: it re-learns)."""

    health: Health = Health.STARTING
    failed_primary_probes: int = 0
    last_rejoin_at: float | None = None
    replica_lost_since: float | None = None
    last_refusal: str | None = None
    synchronous_position: str | None = None  # newest seen; see PairState
    position_recorded_at: float | None = None
    replica_away_cycles: int = 0  # consecutive cycles the replica was seen out of sync


@dataclass(frozen=True)
class SetSynchronous:
    node: str
    on: bool


@dataclass(frozen=True)
class RecordState:
    state: PairState
    quiet: bool = False  # routine bookkeeping (the synchronous position): not an event


@dataclass(frozen=True)
class Fence:
    """Kill the node's server: it must not take writes (it is restarted as a replica)."""

    node: str
    reason: str


@dataclass(frozen=True)
class Promote:
    node: str


@dataclass(frozen=True)
class Rejoin:
    node: str
    primary: str


@dataclass(frozen=True)
class Rebuild:
    """Copy the replica anew from the primary: its own data cannot boot. Never the
    primary's: only a node the state does not name primary is rebuilt, its data kept."""

    node: str
    primary: str


Action = SetSynchronous | RecordState | Fence | Promote | Rejoin | Rebuild


@dataclass(frozen=True)
class Decision:
    memory: Memory
    actions: tuple[Action, ...]
    sentence: str
    event: str | None = None  # a named event for the event log, when something happened


def decide(
    memory: Memory, state: PairState, seen: Observation, policy: Policy, now: float
) -> Decision:
    if state.promotion_pending:
        return _finish_promotion(memory, state, seen)
    if seen.primary.reachable and seen.primary.writable:
        return _primary_alive(memory, state, seen, policy, now)
    return _primary_missing(memory, state, seen, policy, now)


def _finish_promotion(memory: Memory, state: PairState, seen: Observation) -> Decision:
    node = seen.primary.node
    if seen.primary.reachable and seen.primary.writable:
        done = replace(state, promotion_pending=False)
        return Decision(
            replace(memory, health=Health.DEGRADED, failed_primary_probes=0),
            (RecordState(done),),
            f"promotion of {node} confirmed: it accepts writes (term {state.term})",
            event="promoted",
        )
    if not seen.primary.reachable:
        return Decision(
            replace(memory, health=Health.PROMOTING),
            (),
            f"promotion of {node} pending but it does not answer: {seen.primary.error}",
        )
    return Decision(
        replace(memory, health=Health.PROMOTING),
        (Promote(node),),
        f"finishing the promotion of {node} recorded for term {state.term}",
        event="promoting",
    )


def _primary_alive(
    memory: Memory, state: PairState, seen: Observation, policy: Policy, now: float
) -> Decision:
    primary, replica = seen.primary, seen.replica
    recovered = memory.failed_primary_probes > 0
    if replica.reachable and replica.writable:
        return Decision(
            replace(memory, health=Health.DEGRADED, failed_primary_probes=0),
            (Fence(replica.node, "writable while not the recorded primary"),),
            f"SPLIT BRAIN averted: {replica.node} accepts writes but {primary.node} is the "
            f"primary of term {state.term}; fencing {replica.node}",
            event="fenced",
        )
    in_sync = primary.replica_streaming and replica.reachable and replica.receiving
    away = 0 if in_sync else memory.replica_away_cycles + 1
    # Settled: the replica's standing is what the state will say after this cycle. Until
    # then (one sighting away) nothing changes, neither the state nor the replica's data.
    settled = in_sync or not state.replica_in_sync or away >= policy.cycles_to_relax
    actions: list[Action] = []
    synchronous = memory
    if settled:
        actions, synchronous = _synchronous_replication(
            state, memory, seen, want_sync=in_sync, policy=policy, now=now
        )
    last_rejoin = memory.last_rejoin_at
    lost_since = None
    if replica.reachable and not replica.receiving:
        lost_since = memory.replica_lost_since or now
        # An ex-primary that follows nobody needs no grace: it will not reconnect alone.
        waited = now - lost_since >= policy.rejoin_grace or not replica.follows_someone
        due = last_rejoin is None or now - last_rejoin >= policy.rejoin_interval
        if settled and waited and due:
            actions.append(Rejoin(replica.node, primary.node))
            last_rejoin = now
    elif (
        settled
        and not replica.reachable
        and seen.replica_failed_to_start
        and (last_rejoin is None or now - last_rejoin >= policy.rejoin_interval)
    ):
        # The primary takes writes and the pair state names it: everything acknowledged is
        # there, so the replica's data (an old primary's, say, that a database bug keeps
        # from recovering) can be set aside and copied anew. Retried as rejoins are.
        actions.append(Rebuild(replica.node, primary.node))
        last_rejoin = now
    health = Health.HEALTHY if in_sync else Health.DEGRADED
    new_memory = Memory(
        health=health,
        last_rejoin_at=last_rejoin,
        replica_lost_since=lost_since,
        synchronous_position=synchronous.synchronous_position,
        position_recorded_at=synchronous.position_recorded_at,
        replica_away_cycles=away,
    )
    sentence, event = _alive_sentence(memory, new_memory, seen, actions, recovered)
    return Decision(new_memory, tuple(actions), sentence, event)


def _synchronous_replication(
    state: PairState,
    memory: Memory,
    seen: Observation,
    *,
    want_sync: bool,
    policy: Policy,
    now: float,
) -> tuple[list[Action], Memory]:
    """Keep commits waiting for the replica while it streams, and let them go on alone
    when it is away, in the one safe order (Patroni's synchronous_mode): relaxing comes
    only after the pair state durably says the replica is not in sync, and the replica
    counts as in sync only once commits are seen waiting for it. A monitor killed between
    the two steps leaves a state that forbids promoting a replica that may lack writes.

    While in sync, the replica's position is remembered every cycle and written to the
    state every ``position_record_interval``: a candidate must hold at least that."""
    primary = seen.primary
    replica_in_sync = want_sync and primary.sync_active and primary.sync_configured
    acknowledged = _acknowledged(seen) if replica_in_sync else None
    remembered = replace(memory, synchronous_position=acknowledged or memory.synchronous_position)
    recorded = state
    if replica_in_sync != state.replica_in_sync:
        recorded = replace(recorded, replica_in_sync=replica_in_sync)
    last_written = memory.position_recorded_at
    due = last_written is None or now - last_written >= policy.position_record_interval
    if acknowledged and acknowledged != state.synchronous_position and (due or recorded != state):
        recorded = replace(recorded, synchronous_position=acknowledged)
        remembered = replace(remembered, position_recorded_at=now)
    record: list[Action] = []
    if recorded != state:
        only_position = replace(recorded, synchronous_position=state.synchronous_position)
        record.append(RecordState(recorded, quiet=only_position == state))
    if primary.sync_configured == want_sync:
        return record, remembered
    switch: list[Action] = [SetSynchronous(primary.node, want_sync)]
    return (switch + record if want_sync else record + switch), remembered


def _acknowledged(seen: Observation) -> str | None:
    """The newest position known to be on the replica while commits wait for it: the
    primary's own account where the engine gives one (PostgreSQL's flush_lsn of the
    synchronous standby), else what the replica says it holds (MariaDB and MySQL expose
    no acknowledged position on the primary; a replica's holdings only grow)."""
    return seen.primary.acknowledged or seen.replica.received or None


def _alive_sentence(
    before: Memory,
    after: Memory,
    seen: Observation,
    actions: list[Action],
    recovered: bool,
) -> tuple[str, str | None]:
    primary, replica = seen.primary.node, seen.replica.node
    notes = []
    for action in actions:
        if isinstance(action, SetSynchronous):
            notes.append("synchronous replication " + ("on" if action.on else "relaxed"))
        if isinstance(action, Rejoin):
            notes.append(f"asking {replica} to rejoin as a replica of {primary}")
        if isinstance(action, Rebuild):
            notes.append(f"{replica} cannot start: rebuilding it from {primary}")
    suffix = "; " + "; ".join(notes) if notes else ""
    if recovered:
        return f"primary {primary} answers again{suffix}", "primary-recovered"
    if after.health is Health.HEALTHY:
        if before.health is Health.HEALTHY:
            return f"pair healthy: {primary} primary, {replica} streaming{suffix}", None
        return f"healthy: {replica} streams from {primary} in sync{suffix}", "recovered"
    reason = seen.replica.error or (
        "unreachable" if not seen.replica.reachable else "not replicating"
    )
    event = "degraded" if before.health is not Health.DEGRADED else None
    if any(isinstance(action, Rejoin) for action in actions):
        event = "rejoin"
    if any(isinstance(action, Rebuild) for action in actions):
        event = "rebuild"
    return f"degraded: {primary} writes alone, replica {replica} {reason}{suffix}", event


def _primary_missing(
    memory: Memory, state: PairState, seen: Observation, policy: Policy, now: float
) -> Decision:
    primary, replica = seen.primary, seen.replica
    failures = memory.failed_primary_probes + 1
    why = primary.error or "answers but refuses writes"
    if failures < policy.failures_to_declare:
        return Decision(
            replace(memory, health=Health.SUSPECT, failed_primary_probes=failures),
            (),
            f"primary {primary.node} failed probe {failures}/{policy.failures_to_declare}: {why}",
            event="probe-failed",
        )
    if replica.reachable and replica.writable:
        adopted = replace(state, primary=replica.node, term=state.term + 1)
        return Decision(
            Memory(health=Health.DEGRADED),
            (Fence(primary.node, "lost its role to a node promoted by hand"), RecordState(adopted)),
            f"{replica.node} already accepts writes (promoted by hand?) while {primary.node} "
            f"is gone: recording it as primary of term {adopted.term}",
            event="adopted",
        )
    refusal = _refusal(memory, state, seen, policy, now)
    if refusal is not None:
        sentence = f"primary {primary.node} unreachable ({failures} probes): {refusal}"
        event = "promotion-refused" if refusal != memory.last_refusal else None
        return Decision(
            replace(
                memory,
                health=Health.FAILED,
                failed_primary_probes=failures,
                last_refusal=refusal,
            ),
            (),
            sentence,
            event=event,
        )
    lease_left = (seen.lease_expires_at or now) - now
    if not policy.fence_is_certain and lease_left > 0:
        return Decision(
            replace(memory, health=Health.SUSPECT, failed_primary_probes=failures),
            (),
            f"primary {primary.node} declared dead; waiting out its lease ({lease_left:.1f} s "
            f"left) before promoting {replica.node}",
            event="lease-wait" if failures == policy.failures_to_declare else None,
        )
    promoted = state.promoted(replica.node, at=now)
    return Decision(
        Memory(health=Health.PROMOTING),
        (Fence(primary.node, "declared dead"), RecordState(promoted), Promote(replica.node)),
        f"primary {primary.node} declared dead after {failures} failed probes and "
        f"{replica.node} lost it too; promoting {replica.node} (term {promoted.term})",
        event="primary-dead",
    )


def _refusal(
    memory: Memory, state: PairState, seen: Observation, policy: Policy, now: float
) -> str | None:
    replica = seen.replica
    if not replica.reachable:
        return f"replica {replica.node} is down too ({replica.error}); nothing to promote"
    if replica.receiving:
        return (
            f"replica {replica.node} still receives from it: the monitor may be cut off "
            "alone; not promoting"
        )
    if not state.replica_in_sync:
        return (
            f"replica {replica.node} was not in sync at last sight and may lack acknowledged "
            "writes; not promoting automatically"
        )
    short = _short_of_acknowledged(memory, state, seen)
    if short is not None:
        return short
    recent = (
        state.last_failover_at is not None
        and now - state.last_failover_at < policy.anti_flap_window
    )
    if recent and not state.failover_acknowledged:
        return (
            f"a failover already happened within the last {policy.anti_flap_window:.0f} s "
            f"(term {state.term}) and was not acknowledged; run `medsys ack {state.pair}` "
            "to allow another"
        )
    return None


def _short_of_acknowledged(memory: Memory, state: PairState, seen: Observation) -> str | None:
    """Positions, not only the flag: the candidate must hold the last position seen
    acknowledged as synchronous (the monitor's memory, or the state after a restart)."""
    replica = seen.replica
    needed = memory.synchronous_position or state.synchronous_position
    if not needed:
        return (
            f"no position acknowledged as synchronous is on record for {replica.node}; "
            "not promoting automatically"
        )
    if not replica.received:
        return f"replica {replica.node} reports no replication position; not promoting"
    try:
        holds = covers(replica.received, needed)
    except PositionError as error:
        return f"cannot compare replication positions ({error}); not promoting"
    if not holds:
        return (
            f"replica {replica.node} holds {replica.received} but {needed} was acknowledged "
            "as synchronous: promoting it would lose acknowledged writes; not promoting"
        )
    return None
