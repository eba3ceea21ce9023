"""A pair's monitor; its process is ``python -m medsys.launcher.monitor_process PAIR``,
which hands it the means to start, stop and kill nodes (``serve``).

Each cycle: probe both nodes on fresh connections with a hard deadline, ``decide``, apply the
actions in order, log one timestamped sentence when something changed, append named events
to the pair's event log, and publish its status for ``medsys status``.

Environment: MEDSYS_PROBE_INTERVAL (seconds, default 0.5), MEDSYS_PROBE_TIMEOUT (1.0),
MEDSYS_FAILURES_TO_DECLARE (3), MEDSYS_ANTI_FLAP_WINDOW (600), MEDSYS_NODE_CONTROL
("supervisor": fence and restart nodes through the local supervisord; "agents": through
each database container's agent, see ``medsys.nodes.remote``).

Its metrics (``failover.metrics``) are served on the monitor's own port, ``/metrics``.

``python -m medsys.launcher.monitor_process --check PAIR`` is the container's healthcheck.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, replace

from medsys.core.scrape import serve_metrics_in_background
from medsys.core.settings import Settings
from medsys.core.topology import Pair
from medsys.failover.decision import (
    Action,
    Decision,
    Fence,
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
from medsys.failover.metrics import MonitorMetrics
from medsys.nodes.base import NodeAdapter, NodeError, one_line
from medsys.pairs.hands import Hands
from medsys.pairs.lease import Lease, read_lease, write_lease
from medsys.pairs.node import NodeProbe
from medsys.pairs.state import (
    PairState,
    append_event,
    read_monitor_status,
    read_pair_state,
    replace_pair_state,
    write_monitor_status,
)

log = logging.getLogger("medsys.monitor")
HEALTHY_WITHIN = 10.0  # seconds since the monitor last published a cycle


@dataclass(frozen=True)
class Timing:
    probe_interval: float = 0.5
    probe_timeout: float = 1.0


class Monitor:
    def __init__(
        self,
        settings: Settings,
        pair: Pair,
        adapter: NodeAdapter,
        hands: Hands,
        *,
        policy: Policy,
        timing: Timing = Timing(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.pair = pair
        self.adapter = adapter
        self.hands = hands
        self.policy = policy
        self.timing = timing
        self.clock = clock
        self.memory = Memory()
        self.metrics = MonitorMetrics(pair)
        # Probes of a frozen server may outlive their deadline; spare workers keep the
        # next cycle from waiting on them.
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="probe")

    def _probe(self, future: Future[NodeProbe], node: str) -> NodeProbe:
        try:
            return future.result(timeout=self.timing.probe_timeout)
        except FutureTimeout:
            return NodeProbe(
                node=node,
                reachable=False,
                error=f"no answer within {self.timing.probe_timeout:.1f} s",
            )

    def observe(self, state: PairState) -> Observation:
        replica = self.pair.other(state.primary)
        futures = {
            node: self._pool.submit(self.adapter.probe, node) for node in (state.primary, replica)
        }
        seen = Observation(
            primary=self._probe(futures[state.primary], state.primary),
            replica=self._probe(futures[replica], replica),
            lease_expires_at=self._lease_of(state.primary),
        )
        if not seen.replica.reachable:  # asked only then: one call to supervisord more
            try:
                failed = self.hands.failed_to_start(replica)
            except Exception:  # supervisord busy or away: judged next cycle
                failed = False
            seen = replace(seen, replica_failed_to_start=failed)
        return seen

    def _lease_of(self, primary: str) -> float | None:
        """Where the fence is certain (a SIGKILL on this host) no lease is kept: nothing
        waits on it and no agent enforces it, so neither a read nor a write per cycle."""
        if self.policy.fence_is_certain:
            return None
        lease = read_lease(self.settings, self.pair)
        return lease.expires_at if lease is not None and lease.holder == primary else None

    def cycle(self) -> Decision:
        state = read_pair_state(self.settings, self.pair)
        if state is None:
            raise NodeError(f"the {self.pair.name} pair has no state yet")
        started = time.monotonic()
        seen = self.observe(state)
        self.metrics.observed(state, (seen.primary, seen.replica))
        now = self.clock()
        decision = decide(self.memory, state, seen, self.policy, now)
        renew = not self.policy.fence_is_certain and not state.promotion_pending
        if renew and seen.primary.reachable and seen.primary.writable:
            # Renewed only while the primary is seen taking writes (see pairs.lease).
            write_lease(self.settings, self.pair, Lease(state.primary, state.term, now))
        routine = all(isinstance(a, RecordState) and a.quiet for a in decision.actions)
        if decision.event or not routine:
            # Written before acting: a monitor killed mid-action leaves its decision on
            # record, and the one that restarts finishes it.
            log.info(decision.sentence)
            append_event(
                self.settings, self.pair, decision.event or "action", decision.sentence, state.term
            )
        outcome = self._apply(state, decision.actions)
        self.memory = decision.memory
        sentence = decision.sentence
        if outcome:
            sentence = f"{decision.sentence} -> {outcome}"
            self._report(outcome, state.term)
        self._publish(state, sentence)
        self.metrics.judged(
            self.memory.health, decision.event, time.monotonic() - started, self.clock()
        )
        return decision

    def _apply(self, state: PairState, actions: tuple[Action, ...]) -> str:
        done: list[str] = []
        expected = state
        for action in actions:
            try:
                if isinstance(action, RecordState):
                    if not replace_pair_state(self.settings, self.pair, expected, action.state):
                        done.append("pair state changed meanwhile; deciding again")
                        break
                    expected = action.state
                else:
                    result = self._act(action)
                    if result:
                        done.append(result)
            except Exception as error:  # an action failing must not kill the monitor
                done.append(f"{type(action).__name__} failed: {one_line(error)}")
                break
        return "; ".join(done)

    def _act(self, action: Action) -> str:
        if isinstance(action, SetSynchronous):
            self.adapter.set_synchronous(action.node, action.on)
            return ""
        if isinstance(action, Fence):
            return self.hands.fence(action.node, action.reason)
        if isinstance(action, Promote):
            return self.adapter.promote(action.node)
        if isinstance(action, Rejoin):
            # The node is recorded out of sync before any rejoin is asked for, so a
            # failover meanwhile never promotes it.
            return self.hands.rejoin(action.node, action.primary, self._report)
        if isinstance(action, Rebuild):
            return self.hands.rebuild(action.node, action.primary, self._report)
        raise TypeError(f"unknown action {action!r}")

    def _report(self, outcome: str, term_seen: int = 0) -> None:
        """What an action came to, for the log and the event register, at the term the
        pair has now (an action may have moved it); also how the hands report work they
        did beside the loop (a rejoin)."""
        log.info("done: %s", outcome)
        state = read_pair_state(self.settings, self.pair)
        append_event(
            self.settings, self.pair, "outcome", outcome, state.term if state else term_seen
        )

    def _publish(self, state: PairState, sentence: str) -> None:
        write_monitor_status(
            self.settings,
            self.pair,
            {
                "pid": os.getpid(),
                "health": self.memory.health.value,
                "failed_probes": self.memory.failed_primary_probes,
                "primary": state.primary,
                "term": state.term,
                "sentence": sentence,
                "time": self.clock(),
            },
        )

    def run_forever(self) -> None:
        log.info(
            "monitor of the %s pair started: probe every %.1f s, dead after %d failures",
            self.pair.name,
            self.timing.probe_interval,
            self.policy.failures_to_declare,
        )
        append_event(self.settings, self.pair, "monitor-started", "monitor started", 0)
        while True:
            started = time.monotonic()
            try:
                self.cycle()
            except Exception as error:
                log.exception("monitor cycle failed; trying again: %s", one_line(error))
            time.sleep(max(0.0, self.timing.probe_interval - (time.monotonic() - started)))


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name) or default)  # compose passes unset as empty
    except ValueError:
        return default


def is_healthy(settings: Settings, pair: Pair) -> bool:
    """For a container's health check: the monitor wrote its status lately."""
    status = read_monitor_status(settings, pair) or {}
    return time.time() - float(status.get("time", 0)) < HEALTHY_WITHIN


def serve(settings: Settings, pair: Pair, adapter: NodeAdapter, hands: Hands) -> None:
    """Watch ``pair`` forever with the hands it is given: the local supervisor, or the
    node agents in containers (whose fence is not certain: they keep a lease)."""
    policy = Policy(
        failures_to_declare=int(_env_float("MEDSYS_FAILURES_TO_DECLARE", 3)),
        anti_flap_window=_env_float("MEDSYS_ANTI_FLAP_WINDOW", 600.0),
        fence_is_certain=hands.fence_is_certain,
    )
    timing = Timing(
        probe_interval=_env_float("MEDSYS_PROBE_INTERVAL", 0.5),
        probe_timeout=_env_float("MEDSYS_PROBE_TIMEOUT", 1.0),
    )
    monitor = Monitor(settings, pair, adapter, hands, policy=policy, timing=timing)
    serve_metrics_in_background(
        monitor.metrics.registry, settings.bind_address, settings.port(pair.monitor)
    )
    monitor.run_forever()
