from medsys.failover.decision import (
    Health,
    Memory,
    Observation,
    SetSynchronous,
    decide,
)
from medsys.nodes.base import NodeProbe


def primary(**fields: object) -> NodeProbe:
    values: dict[str, object] = {
        "node": "postgres_primary",
        "reachable": True,
        "writable": True,
        "replica_streaming": True,
        "sync_configured": True,
    }
    values.update(fields)
    return NodeProbe(**values)  # type: ignore[arg-type]


def replica(**fields: object) -> NodeProbe:
    values: dict[str, object] = {
        "node": "postgres_replica",
        "reachable": True,
        "receiving": True,
    }
    values.update(fields)
    return NodeProbe(**values)  # type: ignore[arg-type]


HEALTHY = Memory(Health.HEALTHY)


def test_healthy_pair_needs_nothing() -> None:
    decision = decide(HEALTHY, Observation(primary(), replica()), relax_when_alone=True)
    assert decision.actions == ()
    assert decision.memory.health is Health.HEALTHY
    assert decision.sentence.startswith("pair healthy")


def test_lost_standby_relaxes_synchronous_replication() -> None:
    seen = Observation(primary(replica_streaming=False), replica(reachable=False, error="refused"))
    decision = decide(HEALTHY, seen, relax_when_alone=True)
    assert decision.actions == (SetSynchronous("postgres_primary", on=False),)
    assert decision.memory.health is Health.DEGRADED
    assert "degraded" in decision.sentence and "relaxed" in decision.sentence


def test_returning_standby_restores_synchronous_replication() -> None:
    seen = Observation(primary(sync_configured=False), replica())
    decision = decide(Memory(Health.DEGRADED), seen, relax_when_alone=True)
    assert decision.actions == (SetSynchronous("postgres_primary", on=True),)
    assert decision.sentence.startswith("recovered")


def test_semi_sync_engines_keep_it_on_even_when_alone() -> None:
    seen = Observation(primary(replica_streaming=False), replica(reachable=False))
    decision = decide(HEALTHY, seen, relax_when_alone=False)
    assert decision.actions == ()
    assert decision.memory.health is Health.DEGRADED


def test_semi_sync_switched_on_where_it_is_off() -> None:
    seen = Observation(primary(sync_configured=False), replica())
    decision = decide(HEALTHY, seen, relax_when_alone=False)
    assert decision.actions == (SetSynchronous("postgres_primary", on=True),)


def test_unreachable_primary_counts_failed_probes() -> None:
    seen = Observation(primary(reachable=False, error="timeout"), replica(receiving=False))
    first = decide(HEALTHY, seen, relax_when_alone=True)
    second = decide(first.memory, seen, relax_when_alone=True)
    assert second.memory.failed_primary_probes == 2
    assert "failed probe 2" in second.sentence


def test_a_good_probe_resets_the_count() -> None:
    memory = Memory(Health.PRIMARY_UNREACHABLE, failed_primary_probes=2)
    decision = decide(memory, Observation(primary(), replica()), relax_when_alone=True)
    assert decision.memory.failed_primary_probes == 0
