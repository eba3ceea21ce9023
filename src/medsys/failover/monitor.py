"""A pair's monitor; its process is ``python -m medsys.launcher.monitor_process PAIR``,
which hands it the means to start, stop and kill nodes (``serve``).

Each cycle: probe both nodes on fresh connections with a hard deadline, ``decide``, apply the
actions in order, log one timestamped sentence when something changed, append named events
to the pair's event log, and publish its status for ``medsys status``.

Environment: MEDSYS_PROBE_INTERVAL (seconds, default 0.5), MEDSYS_PROBE_TIMEOUT (1.0),
MEDSYS_FAILURES_TO_DECLARE (3), MEDSYS_ANTI_FLAP_WINDOW (600), MEDSYS_NODE_CONTROL
("supervisor": fence and restart nodes through the local supervisord; "agents": through
each database container's agent, see ``medsys.nodes.remote``).

``python -m medsys.launcher.monitor_process --check PAIR`` is the container's healthcheck.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from medsys.core.secrets import load_secrets
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
    RecordState,
    Rejoin,
    SetSynchronous,
    decide,
)
from medsys.nodes import adapter_for
from medsys.nodes.base import (
    NodeError,
    NodeProbe,
    ProcessControl,
    kill_processes_using,
    one_line,
)
from medsys.nodes.remote import AgentControl
from medsys.pairs.lease import Lease, read_lease, write_lease
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
        control: ProcessControl,
        *,
        policy: Policy,
        timing: Timing = Timing(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.pair = pair
        self.control = control
        self.policy = policy
        self.timing = timing
        self.clock = clock
        self.adapter = adapter_for(pair)
        self.secrets = load_secrets(settings)
        self.memory = Memory()
        # Probes of a frozen server may outlive their deadline; spare workers keep the
        # next cycle from waiting on them.
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="probe")
        # A rejoin may rebuild a node from a copy of the primary (minutes on a big
        # database): it runs beside the loop, which keeps probing and deciding meanwhile.
        self._rejoiner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rejoin")
        self._rejoining: Future[str] | None = None

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
            node: self._pool.submit(self.adapter.probe, self.settings, self.secrets, node)
            for node in (state.primary, replica)
        }
        return Observation(
            primary=self._probe(futures[state.primary], state.primary),
            replica=self._probe(futures[replica], replica),
            lease_expires_at=self._lease_of(state.primary),
        )

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
        seen = self.observe(state)
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
            log.info("done: %s", outcome)
            term = (read_pair_state(self.settings, self.pair) or state).term
            append_event(self.settings, self.pair, "outcome", outcome, term)
        self._publish(state, sentence)
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
        settings, secrets = self.settings, self.secrets
        if isinstance(action, SetSynchronous):
            self.adapter.set_synchronous(settings, secrets, action.node, action.on)
            return ""
        if isinstance(action, Fence):
            was_running = self.control.is_process_running(action.node)
            if was_running:
                self.control.kill(action.node)
            if isinstance(self.control, AgentControl):  # agents kill their own servers
                if was_running:
                    return f"{action.node} fence requested from its agent ({action.reason})"
                return f"{action.node} already down"
            stragglers = kill_processes_using(self.adapter.data_dir(settings, action.node))
            if was_running or stragglers:
                return f"{action.node} fenced (killed: {action.reason})"
            return f"{action.node} already down"
        if isinstance(action, Promote):
            return self.adapter.promote(settings, secrets, action.node)
        if isinstance(action, Rejoin):
            if isinstance(self.control, AgentControl):
                # The data to rewind or rebuild is in the node's container, not here.
                return self.control.rejoin(action.node, action.primary)
            if self._rejoining is not None and not self._rejoining.done():
                return f"{action.node} is still being rejoined"
            self._rejoining = self._rejoiner.submit(self._rejoin, action)
            return f"rejoining {action.node} to {action.primary} beside the probe loop"
        raise TypeError(f"unknown action {action!r}")

    def _rejoin(self, action: Rejoin) -> str:
        """A rejoin (or rebuild) in its own thread; its outcome goes to the log and the
        event register when it ends. The node is recorded out of sync before any rejoin
        is asked for, so a failover meanwhile never promotes it."""
        try:
            outcome = self.adapter.rejoin(
                self.settings, self.secrets, action.node, action.primary, self.control
            )
        except Exception as error:  # reported like any failed action, never fatal
            outcome = f"Rejoin failed: {one_line(error)}"
        log.info("done: %s", outcome)
        state = read_pair_state(self.settings, self.pair)
        append_event(self.settings, self.pair, "outcome", outcome, state.term if state else 0)
        return outcome

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


def serve(settings: Settings, pair: Pair, control: ProcessControl, *, agents: bool) -> None:
    """Watch ``pair`` forever with the hands it is given: the local supervisor, or the
    node agents in containers (whose fence is not certain: they keep a lease)."""
    policy = Policy(
        failures_to_declare=int(_env_float("MEDSYS_FAILURES_TO_DECLARE", 3)),
        anti_flap_window=_env_float("MEDSYS_ANTI_FLAP_WINDOW", 600.0),
        fence_is_certain=not agents,
    )
    timing = Timing(
        probe_interval=_env_float("MEDSYS_PROBE_INTERVAL", 0.5),
        probe_timeout=_env_float("MEDSYS_PROBE_TIMEOUT", 1.0),
    )
    Monitor(settings, pair, control, policy=policy, timing=timing).run_forever()
