"""The judgement of a database container's agent: what to do before boot, and while running."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from medsys.core.settings import Settings
from medsys.core.topology import pair_named
from medsys.nodes.plan import (
    FAILOVER_GRACE_SECONDS,
    BootStep,
    ControlRequest,
    Verdict,
    plan_boot,
    watch,
)
from medsys.pairs.lease import HOLDER_MARGIN, Lease, lapsed_for, read_lease, write_lease
from medsys.pairs.node import Role
from medsys.pairs.state import PairState

STATE = PairState(pair="admin", primary="postgres_primary", term=3, bootstrapped=True)
NOW = 1_000_000.0


def kill(term: int, *, age: float = 1.0, seq: int = 7) -> ControlRequest:
    return ControlRequest(seq=seq, verb="kill", reason="declared dead", at=NOW - age, term=term)


def plan(node: str, state: PairState = STATE, **overrides: object):  # type: ignore[no-untyped-def]
    arguments: dict[str, object] = {
        "initialised": True,
        "last_ran_as_primary": False,
        "latest_request": None,
        "now": NOW,
    }
    arguments.update(overrides)
    return plan_boot(node, state, **arguments)  # type: ignore[arg-type]


class TestBoot:
    def test_the_recorded_primary_boots_as_primary(self) -> None:
        decided = plan("postgres_primary", last_ran_as_primary=True)
        assert (decided.step, decided.role) == (BootStep.BOOT, Role.PRIMARY)

    def test_the_other_node_boots_as_replica_of_the_recorded_primary(self) -> None:
        decided = plan("postgres_replica")
        assert (decided.step, decided.role, decided.primary) == (
            BootStep.BOOT,
            Role.REPLICA,
            "postgres_primary",
        )

    @pytest.mark.parametrize("node", ["postgres_primary", "postgres_replica"])
    def test_an_empty_volume_is_initialised_in_the_state_role(self, node: str) -> None:
        decided = plan(node, initialised=False)
        assert decided.step is BootStep.INITIALISE
        assert decided.role is (Role.PRIMARY if node == "postgres_primary" else Role.REPLICA)

    def test_an_ex_primary_is_rewound_before_it_boots_as_replica(self) -> None:
        moved_on = replace(STATE, primary="postgres_replica", term=4)
        decided = plan("postgres_primary", moved_on, last_ran_as_primary=True)
        assert decided.step is BootStep.REWIND
        assert decided.primary == "postgres_replica"
        assert "term 4" in decided.why

    def test_a_fenced_primary_waits_while_the_failover_is_being_recorded(self) -> None:
        # Killed at term 3, and the state still says term 3: the monitor is between its
        # fence and its record of the new primary. Booting writable now is split brain.
        decided = plan("postgres_primary", latest_request=kill(term=3))
        assert decided.step is BootStep.WAIT_FOR_FAILOVER

    def test_a_fence_already_handled_still_holds_the_boot(self) -> None:
        # The request is the newest one whether or not the agent has acted on it.
        decided = plan("postgres_primary", latest_request=kill(term=3, seq=1))
        assert decided.step is BootStep.WAIT_FOR_FAILOVER

    def test_once_the_new_primary_is_recorded_the_fenced_node_boots_as_replica(self) -> None:
        moved_on = replace(STATE, primary="postgres_replica", term=4)
        decided = plan("postgres_primary", moved_on, latest_request=kill(term=3))
        assert (decided.step, decided.role) == (BootStep.BOOT, Role.REPLICA)

    def test_a_fence_of_an_earlier_term_does_not_hold_a_primary(self) -> None:
        decided = plan("postgres_primary", latest_request=kill(term=2))
        assert (decided.step, decided.role) == (BootStep.BOOT, Role.PRIMARY)

    def test_an_abandoned_failover_does_not_hold_the_primary_for_ever(self) -> None:
        stale = kill(term=3, age=FAILOVER_GRACE_SECONDS + 1)
        decided = plan("postgres_primary", latest_request=stale)
        assert (decided.step, decided.role) == (BootStep.BOOT, Role.PRIMARY)

    def test_a_restart_request_does_not_hold_the_boot(self) -> None:
        restart = replace(kill(term=3), verb="restart")
        assert plan("postgres_primary", latest_request=restart).step is BootStep.BOOT


class TestWatch:
    def judge(self, node: str = "postgres_primary", **overrides: object) -> Verdict:
        arguments: dict[str, object] = {
            "served_as_primary": True,
            "state": STATE,
            "request": None,
            "handled_seq": 0,
            "server_alive": True,
        }
        arguments.update(overrides)
        return watch(node, **arguments)  # type: ignore[arg-type]

    def test_a_primary_the_state_still_names_keeps_running(self) -> None:
        assert self.judge() is Verdict.KEEP_RUNNING

    def test_a_primary_fences_itself_when_the_state_names_another(self) -> None:
        moved_on = replace(STATE, primary="postgres_replica", term=4)
        assert self.judge(state=moved_on) is Verdict.SELF_FENCE

    def test_a_replica_is_not_fenced_by_the_state_naming_the_other_node(self) -> None:
        assert self.judge("postgres_replica", served_as_primary=False) is Verdict.KEEP_RUNNING

    def test_an_unreadable_state_fences_nobody(self) -> None:
        assert self.judge(state=None) is Verdict.KEEP_RUNNING

    def test_new_requests_are_carried_out_once(self) -> None:
        assert self.judge(request=kill(term=3, seq=5), handled_seq=4) is Verdict.KILL
        assert self.judge(request=kill(term=3, seq=5), handled_seq=5) is Verdict.KEEP_RUNNING
        restart = replace(kill(term=3, seq=6), verb="restart")
        assert self.judge(request=restart, handled_seq=5) is Verdict.RESTART

    def test_a_dead_server_ends_the_container(self) -> None:
        assert self.judge(server_alive=False) is Verdict.SERVER_DIED

    def test_a_primary_isolated_past_its_lease_fences_itself(self) -> None:
        assert self.judge(isolated_past_lease=True) is Verdict.LEASE_LAPSED
        moved_on = replace(STATE, primary="postgres_replica", term=4)
        assert self.judge(state=moved_on, isolated_past_lease=True) is Verdict.SELF_FENCE


class TestLease:
    def test_the_holder_gives_the_lease_up_before_the_monitor_counts_it_expired(self) -> None:
        lease = Lease("postgres_primary", term=3, renewed_at=NOW, duration=4.0)
        assert not lapsed_for("postgres_primary", lease, NOW + 4.0 - HOLDER_MARGIN - 0.1)
        assert lapsed_for("postgres_primary", lease, NOW + 4.0 - HOLDER_MARGIN)
        assert lease.expires_at == NOW + 4.0

    def test_a_node_never_granted_a_lease_is_not_held_to_one(self) -> None:
        assert not lapsed_for("postgres_primary", None, NOW)
        other = Lease("postgres_replica", term=3, renewed_at=NOW - 60)
        assert not lapsed_for("postgres_primary", other, NOW)

    def test_a_lease_survives_the_file_round_trip(self, tmp_path: Path) -> None:
        settings = Settings(state_dir=tmp_path)
        pair = pair_named("admin")
        assert read_lease(settings, pair) is None
        settings.cluster_dir.mkdir(parents=True)
        lease = Lease("postgres_primary", term=3, renewed_at=NOW)
        write_lease(settings, pair, lease)
        assert read_lease(settings, pair) == lease
