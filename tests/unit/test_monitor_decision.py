"""Every transition of the failover decision, as plain data (no servers, no sleeps)."""

from dataclasses import replace

from medsys.failover.decision import (
    Fence,
    Health,
    Memory,
    Observation,
    Policy,
    Promote,
    Rebuild,
    RecordState,
    Rejoin,
    SetSynchronous,
    decide,
)
from medsys.pairs.node import NodeProbe
from medsys.pairs.state import PairState

P, R = "postgres_primary", "postgres_replica"
NOW = 1_000_000.0
POLICY = Policy(failures_to_declare=3, anti_flap_window=600, rejoin_interval=15)
HELD = "0/3000060"  # the LSN the standby confirmed, the last time the monitor looked
STATE = PairState(
    pair="admin",
    primary=P,
    term=1,
    bootstrapped=True,
    replica_in_sync=True,
    synchronous_position=HELD,
)


def primary(**fields: object) -> NodeProbe:
    values: dict[str, object] = {
        "node": P,
        "reachable": True,
        "writable": True,
        "replica_streaming": True,
        "sync_configured": True,
        "sync_active": True,
        "acknowledged": HELD,
    }
    return NodeProbe(**{**values, **fields})  # type: ignore[arg-type]


def replica(**fields: object) -> NodeProbe:
    values: dict[str, object] = {
        "node": R,
        "reachable": True,
        "receiving": True,
        "follows_someone": True,
        "received": HELD,
    }
    return NodeProbe(**{**values, **fields})  # type: ignore[arg-type]


DEAD = primary(reachable=False, writable=False, error="connection refused")
ORPHANED = replica(receiving=False)  # the replica lost its primary too


def run(memory: Memory, seen: Observation, state: PairState = STATE, now: float = NOW):  # type: ignore[no-untyped-def]
    return decide(memory, state, seen, POLICY, now)


def after_failures(count: int, seen: Observation, state: PairState = STATE) -> Memory:
    memory = Memory(Health.HEALTHY)
    for _ in range(count):
        memory = run(memory, seen, state).memory
    return memory


# --- a living primary -------------------------------------------------------------------


def test_healthy_pair_needs_nothing() -> None:
    decision = run(Memory(Health.HEALTHY), Observation(primary(), replica()))
    assert decision.actions == ()
    assert decision.memory.health is Health.HEALTHY
    assert decision.event is None


def twice(seen: Observation, memory: Memory | None = None):  # type: ignore[no-untyped-def]
    """The second of two cycles that see the same thing (the first changes nothing)."""
    first = run(memory or Memory(Health.HEALTHY), seen)
    assert not any(isinstance(a, (RecordState, SetSynchronous, Rebuild)) for a in first.actions)
    return run(first.memory, seen)


def test_lost_standby_is_recorded_out_of_sync_before_sync_is_relaxed() -> None:
    seen = Observation(primary(replica_streaming=False), replica(reachable=False, error="refused"))
    first = run(Memory(Health.HEALTHY), seen)
    assert first.event == "degraded" and first.actions == (), "a first sighting changes nothing"
    decision = run(first.memory, seen)
    assert decision.actions[:2] == (
        RecordState(replace(STATE, replica_in_sync=False)),
        SetSynchronous(P, on=False),
    ), "relaxing first would let a commit be acknowledged by one node while the state says two"
    assert decision.memory.health is Health.DEGRADED
    assert "relaxed" in decision.sentence


def test_a_monitor_killed_between_recording_and_relaxing_leaves_a_safe_state() -> None:
    """It dies after writing the state, before relaxing: the next monitor relaxes, and if
    the primary dies instead, the recorded state forbids the promotion."""
    seen = Observation(primary(replica_streaming=False), replica(reachable=False, error="gone"))
    recorded = replace(STATE, replica_in_sync=False)
    restarted = run(Memory(), seen, recorded)
    assert restarted.actions == (SetSynchronous(P, on=False),)
    dead = Observation(DEAD, ORPHANED)
    memory = after_failures(POLICY.failures_to_declare - 1, dead, recorded)
    refused = run(memory, dead, recorded)
    assert not any(isinstance(a, Promote) for a in refused.actions)
    assert "not in sync" in refused.sentence


def test_a_replica_that_stops_receiving_is_recorded_before_anything_is_relaxed() -> None:
    """A cut replication link: the replica still answers, it just stopped receiving."""
    seen = Observation(primary(replica_streaming=True), replica(receiving=False))
    decision = twice(seen)
    kinds = [type(action) for action in decision.actions]
    assert kinds.index(RecordState) < kinds.index(SetSynchronous)


def test_a_replica_seen_away_once_as_its_primary_dies_is_still_promoted() -> None:
    """Seen in CI (SIGKILL of a PostgreSQL primary): the replica's stream broke as the
    primary died, and the monitor saw that one probe before the primary's own probes
    failed. Recording the replica out of sync at that first sight refused the promotion
    the pair needed; commits were still waiting for the replica, so it held everything."""
    blip = Observation(primary(replica_streaming=False, sync_active=False), ORPHANED)
    first = run(Memory(Health.HEALTHY), blip)
    assert not any(isinstance(a, (RecordState, SetSynchronous)) for a in first.actions)
    dead = Observation(DEAD, ORPHANED)
    memory = first.memory
    for _ in range(POLICY.failures_to_declare - 1):
        memory = run(memory, dead).memory
    assert Promote(R) in run(memory, dead).actions


def test_returning_standby_restores_sync_and_then_counts_as_in_sync() -> None:
    behind = replace(STATE, replica_in_sync=False)
    seen = Observation(primary(sync_configured=False, sync_active=False), replica())
    decision = run(Memory(Health.DEGRADED), seen, behind)
    assert decision.actions == (SetSynchronous(P, on=True),), "in sync only once seen waiting"
    confirmed = run(decision.memory, Observation(primary(), replica()), behind)
    assert confirmed.actions == (RecordState(replace(behind, replica_in_sync=True)),)
    assert confirmed.event == "recovered" or decision.event == "recovered"


def test_a_state_that_claims_sync_the_primary_does_not_have_is_corrected() -> None:
    seen = Observation(primary(sync_active=False), replica())
    decision = run(Memory(Health.HEALTHY), seen)
    assert decision.actions == (RecordState(replace(STATE, replica_in_sync=False)),)


def rejoins(decision: object) -> bool:
    return any(isinstance(action, Rejoin) for action in decision.actions)  # type: ignore[attr-defined]


def test_a_replica_not_following_for_a_while_is_asked_to_rejoin_but_not_every_cycle() -> None:
    seen = Observation(primary(replica_streaming=False), replica(receiving=False))
    first = run(Memory(Health.DEGRADED), seen)
    assert not rejoins(first), "a replica gets a grace period to reconnect by itself"
    still = run(first.memory, seen, now=NOW + 5)
    assert Rejoin(R, P) in still.actions and still.event == "rejoin"
    soon = run(still.memory, seen, now=NOW + 10)
    assert not rejoins(soon)
    later = run(soon.memory, seen, now=NOW + 21)
    assert Rejoin(R, P) in later.actions


def test_an_ex_primary_following_nobody_is_rejoined_at_once() -> None:
    seen = Observation(primary(replica_streaming=False), replica(receiving=False))
    assert not rejoins(run(Memory(Health.DEGRADED), seen))
    unconfigured = Observation(seen.primary, replica(receiving=False, follows_someone=False))
    assert Rejoin(R, P) in twice(unconfigured, Memory(Health.DEGRADED)).actions


def test_a_replica_that_reconnects_within_the_grace_is_left_alone() -> None:
    lost = run(Memory(Health.DEGRADED), Observation(primary(), replica(receiving=False)))
    back = run(lost.memory, Observation(primary(), replica()), now=NOW + 2)
    assert back.memory.replica_lost_since is None
    again = run(back.memory, Observation(primary(), replica(receiving=False)), now=NOW + 6)
    assert not rejoins(again)


def test_a_replica_whose_data_cannot_start_is_rebuilt_after_the_state_says_it_is_out() -> None:
    gone = replica(reachable=False, receiving=False, error="connection refused")
    stopped = Observation(primary(replica_streaming=False, sync_active=False), gone)
    assert not any(
        isinstance(action, Rebuild) for action in run(Memory(Health.HEALTHY), stopped).actions
    ), "a replica stopped or killed is started by whoever stopped it, never rebuilt"
    failing = replace(stopped, replica_failed_to_start=True)
    first = twice(failing)
    kinds = [type(action) for action in first.actions]
    assert Rebuild(R, P) in first.actions and first.event == "rebuild"
    assert kinds.index(RecordState) < kinds.index(Rebuild), "recorded out of sync first"
    assert "cannot start: rebuilding it" in first.sentence
    soon = run(first.memory, failing, now=NOW + 5)
    assert Rebuild(R, P) not in soon.actions, "not again while the first may still run"
    later = run(soon.memory, failing, now=NOW + 16)
    assert Rebuild(R, P) in later.actions


def test_nothing_is_rebuilt_while_the_primary_is_missing() -> None:
    # A copy comes only from the primary the state names, seen taking writes: never from
    # a node that may lack what was acknowledged.
    gone = replica(reachable=False, receiving=False, error="connection refused")
    seen = replace(Observation(DEAD, gone), replica_failed_to_start=True)
    memory = after_failures(5, seen)
    decision = run(memory, seen)
    assert not any(isinstance(action, Rebuild) for action in decision.actions)


def test_a_second_writable_node_is_fenced() -> None:
    seen = Observation(primary(), replica(writable=True, receiving=False))
    decision = run(Memory(Health.HEALTHY), seen)
    assert decision.actions == (Fence(R, "writable while not the recorded primary"),)
    assert decision.event == "fenced" and "SPLIT BRAIN averted" in decision.sentence


# --- a missing primary ------------------------------------------------------------------


def test_first_failures_only_raise_suspicion() -> None:
    seen = Observation(DEAD, ORPHANED)
    memory = Memory(Health.HEALTHY)
    for count in (1, 2):
        decision = run(memory, seen)
        memory = decision.memory
        assert decision.actions == () and memory.health is Health.SUSPECT
        assert f"failed probe {count}/3" in decision.sentence
        assert decision.event == "probe-failed"


def test_third_failure_confirmed_by_the_replica_promotes_it() -> None:
    seen = Observation(DEAD, ORPHANED)
    decision = run(after_failures(2, seen), seen)
    promoted = STATE.promoted(R, at=NOW)
    assert decision.actions == (Fence(P, "declared dead"), RecordState(promoted), Promote(R))
    assert promoted.primary == R and promoted.term == 2 and promoted.promotion_pending
    assert decision.event == "primary-dead"
    assert "declared dead after 3 failed probes" in decision.sentence


def test_monitor_cut_off_alone_does_not_promote() -> None:
    seen = Observation(DEAD, replica())  # the replica still streams from the primary
    decision = run(after_failures(2, seen), seen)
    assert decision.actions == ()
    assert "may be cut off alone" in decision.sentence
    assert decision.memory.health is Health.FAILED


def test_nothing_to_promote_when_the_replica_is_down_too() -> None:
    seen = Observation(DEAD, replica(reachable=False, error="refused"))
    decision = run(after_failures(2, seen), seen)
    assert decision.actions == () and "down too" in decision.sentence


def test_a_replica_that_was_not_in_sync_is_not_promoted() -> None:
    behind = replace(STATE, replica_in_sync=False)
    seen = Observation(DEAD, ORPHANED)
    decision = run(after_failures(2, seen, behind), seen, behind)
    assert decision.actions == () and "may lack acknowledged writes" in decision.sentence
    assert decision.event == "promotion-refused"
    again = run(decision.memory, seen, behind)
    assert again.event is None, "the same refusal is registered once"


def test_anti_flapping_needs_an_acknowledgement() -> None:
    recent = replace(STATE, last_failover_at=NOW - 60, failover_acknowledged=False)
    seen = Observation(DEAD, ORPHANED)
    refused = run(after_failures(2, seen, recent), seen, recent)
    assert refused.actions == () and "medsys ack admin" in refused.sentence
    acknowledged = replace(recent, failover_acknowledged=True)
    assert Promote(R) in run(after_failures(2, seen, acknowledged), seen, acknowledged).actions
    old = replace(recent, last_failover_at=NOW - 601)
    assert Promote(R) in run(after_failures(2, seen, old), seen, old).actions


def test_a_replica_short_of_the_acknowledged_position_is_not_promoted() -> None:
    """The flag says in sync, but the candidate lost what it had confirmed (a relay log
    thrown away on a restart the monitor did not see): positions refuse."""
    seen = Observation(DEAD, replica(receiving=False, received="0/3000000"))
    decision = run(after_failures(2, seen), seen)
    assert not any(isinstance(a, Promote) for a in decision.actions)
    assert "0/3000060 was acknowledged as synchronous" in decision.sentence


def test_the_newest_position_in_memory_counts_over_the_older_one_on_record() -> None:
    moved = Observation(primary(acknowledged="0/5000000"), replica(received="0/5000000"))
    remembered = run(Memory(Health.HEALTHY, position_recorded_at=NOW), moved, now=NOW + 1)
    assert remembered.actions == (), "not written every cycle"
    assert remembered.memory.synchronous_position == "0/5000000"
    dead = Observation(DEAD, replica(receiving=False, received="0/4000000"))
    memory = remembered.memory
    for _ in range(POLICY.failures_to_declare - 1):
        memory = run(memory, dead).memory
    assert "0/5000000 was acknowledged" in run(memory, dead).sentence


def test_a_restarted_monitor_judges_by_the_position_on_record() -> None:
    seen = Observation(DEAD, replica(receiving=False, received="0/2FFFFFF"))
    decision = run(after_failures(2, seen), seen)
    assert "0/3000060 was acknowledged" in decision.sentence
    unknown = replace(STATE, synchronous_position=None)
    refused = run(after_failures(2, seen, unknown), seen, unknown)
    assert "no position acknowledged as synchronous is on record" in refused.sentence


def test_the_synchronous_position_is_written_quietly_at_most_every_interval() -> None:
    moved = Observation(primary(acknowledged="0/5000000"), replica(received="0/5000000"))
    first = run(Memory(Health.HEALTHY), moved)
    assert first.actions == (
        RecordState(replace(STATE, synchronous_position="0/5000000"), quiet=True),
    )
    assert first.event is None
    again = Observation(primary(acknowledged="0/6000000"), replica(received="0/6000000"))
    soon = run(first.memory, again, replace(STATE, synchronous_position="0/5000000"), NOW + 1)
    assert soon.actions == ()
    later = run(soon.memory, again, replace(STATE, synchronous_position="0/5000000"), NOW + 5)
    assert later.actions[0].state.synchronous_position == "0/6000000"  # type: ignore[union-attr]


def test_mariadb_positions_come_from_the_replica_where_the_primary_tells_none() -> None:
    gtid = replace(STATE, synchronous_position="0-1-40")
    seen = Observation(primary(acknowledged=None), replica(received="0-1-42,0-1-41"))
    decision = run(Memory(Health.HEALTHY), seen, gtid)
    assert decision.actions == (
        RecordState(replace(gtid, synchronous_position="0-1-42,0-1-41"), quiet=True),
    )
    dead = Observation(DEAD, replica(receiving=False, received="0-1-39"))
    refused = run(after_failures(2, dead, gtid), dead, gtid)
    assert "0-1-40 was acknowledged" in refused.sentence
    holding = Observation(DEAD, replica(receiving=False, received="0-2-41"))
    assert Promote(R) in run(after_failures(2, holding, gtid), holding, gtid).actions


def test_where_the_fence_is_a_request_the_old_primary_s_lease_is_waited_out() -> None:
    agents = replace(POLICY, fence_is_certain=False)
    seen = Observation(DEAD, ORPHANED, lease_expires_at=NOW + 1.5)
    memory = Memory(Health.HEALTHY)
    for _ in range(agents.failures_to_declare - 1):
        memory = decide(memory, STATE, seen, agents, NOW).memory
    waiting = decide(memory, STATE, seen, agents, NOW)
    assert waiting.actions == () and waiting.event == "lease-wait"
    assert "waiting out its lease (1.5 s left)" in waiting.sentence
    later = decide(waiting.memory, STATE, seen, agents, NOW + 1.5)
    assert Promote(R) in later.actions
    local = run(after_failures(2, seen), seen)
    assert Promote(R) in local.actions, "a SIGKILL on the same host needs no wait"


def test_a_node_promoted_by_hand_is_adopted() -> None:
    seen = Observation(DEAD, replica(writable=True, receiving=False))
    decision = run(after_failures(2, seen), seen)
    adopted = replace(STATE, primary=R, term=2)
    assert decision.actions == (
        Fence(P, "lost its role to a node promoted by hand"),
        RecordState(adopted),
    )
    assert decision.event == "adopted"


def test_primary_back_before_declared_dead() -> None:
    memory = after_failures(2, Observation(DEAD, ORPHANED))
    decision = run(memory, Observation(primary(), replica()))
    assert decision.memory.failed_primary_probes == 0
    assert decision.event == "primary-recovered"


# --- a promotion interrupted ------------------------------------------------------------


PENDING = STATE.promoted(R, at=NOW)


def test_restarted_monitor_finishes_the_recorded_promotion_without_a_new_term() -> None:
    seen = Observation(replica(writable=False, receiving=False), primary(reachable=False))
    decision = run(Memory(), seen, PENDING)
    assert decision.actions == (Promote(R),)
    assert not any(isinstance(action, RecordState) for action in decision.actions)


def test_promotion_confirmed_once_the_node_takes_writes() -> None:
    seen = Observation(replica(writable=True, receiving=False), primary(reachable=False))
    decision = run(Memory(Health.PROMOTING), seen, PENDING)
    assert decision.actions == (RecordState(replace(PENDING, promotion_pending=False)),)
    assert decision.event == "promoted"


def test_pending_promotion_of_an_unreachable_node_waits() -> None:
    seen = Observation(replica(reachable=False, error="refused"), primary(reachable=False))
    assert run(Memory(), seen, PENDING).actions == ()
