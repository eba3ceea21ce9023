"""A monitor's metrics, for Prometheus and the SLA report (``medsys sla``).

Every series carries the pair's name; a node's series carry the node's too:

- ``medsys_monitor_probes_total{pair, node, result}``: probes made, ``ok`` or ``failed``;
- ``medsys_monitor_node_reachable``, ``medsys_monitor_node_writable``,
  ``medsys_monitor_node_primary`` (the pair state names it primary) per node, 1 or 0;
- ``medsys_monitor_replica_lag_seconds`` (MariaDB/MySQL) and
  ``medsys_monitor_replica_lag_bytes`` (PostgreSQL), absent while unknown;
- ``medsys_monitor_replica_in_sync``: the state lets the replica be promoted;
- ``medsys_monitor_term``, ``medsys_monitor_health{health}`` (one of them is 1);
- ``medsys_monitor_events_total{event}``: what the monitor put in the pair's event
  register (``promoted`` counts failovers, ``promotion-refused`` refusals);
- ``medsys_monitor_cycle_seconds``: how long a probe-decide-act cycle took;
- ``medsys_monitor_last_cycle_timestamp_seconds``: when the last one ended.
"""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from medsys.core.topology import Pair
from medsys.failover.decision import Health
from medsys.pairs.node import NodeProbe
from medsys.pairs.state import PairState

CYCLE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class MonitorMetrics:
    def __init__(self, pair: Pair) -> None:
        self.pair = pair
        self.registry = CollectorRegistry()
        by_node = ["pair", "node"]
        self.probes = Counter(
            "medsys_monitor_probes_total",
            "Probes of a database node",
            [*by_node, "result"],
            registry=self.registry,
        )
        self.reachable = Gauge(
            "medsys_monitor_node_reachable",
            "The node answered its last probe",
            by_node,
            registry=self.registry,
        )
        self.writable = Gauge(
            "medsys_monitor_node_writable",
            "The node took writes at its last probe",
            by_node,
            registry=self.registry,
        )
        self.primary = Gauge(
            "medsys_monitor_node_primary",
            "The pair state names the node primary",
            by_node,
            registry=self.registry,
        )
        self.lag_seconds = Gauge(
            "medsys_monitor_replica_lag_seconds",
            "How far the replica's applied changes are behind its source (MariaDB/MySQL)",
            ["pair"],
            registry=self.registry,
        )
        self.lag_bytes = Gauge(
            "medsys_monitor_replica_lag_bytes",
            "WAL the replica has not replayed yet (PostgreSQL)",
            ["pair"],
            registry=self.registry,
        )
        self.in_sync = Gauge(
            "medsys_monitor_replica_in_sync",
            "The replica was last seen in sync: it may be promoted",
            ["pair"],
            registry=self.registry,
        )
        self.term = Gauge(
            "medsys_monitor_term",
            "The pair's term: failovers since it began",
            ["pair"],
            registry=self.registry,
        )
        self.health = Gauge(
            "medsys_monitor_health",
            "The monitor's judgement of the pair (1: current)",
            ["pair", "health"],
            registry=self.registry,
        )
        self.events = Counter(
            "medsys_monitor_events_total",
            "Events the monitor wrote to the pair's register",
            ["pair", "event"],
            registry=self.registry,
        )
        self.cycle_seconds = Histogram(
            "medsys_monitor_cycle_seconds",
            "Time of one probe-decide-act cycle",
            ["pair"],
            buckets=CYCLE_BUCKETS,
            registry=self.registry,
        )
        self.last_cycle = Gauge(
            "medsys_monitor_last_cycle_timestamp_seconds",
            "When the monitor last finished a cycle",
            ["pair"],
            registry=self.registry,
        )
        for node in pair.nodes:
            for result in ("ok", "failed"):
                self.probes.labels(pair.name, node, result)
        for event in ("primary-dead", "promoted", "promotion-refused", "fenced"):
            self.events.labels(pair.name, event)  # a zero is a fact; an absent series is not

    def observed(self, state: PairState, probes: tuple[NodeProbe, ...]) -> None:
        name = self.pair.name
        for probe in probes:
            self.probes.labels(name, probe.node, "ok" if probe.reachable else "failed").inc()
            self.reachable.labels(name, probe.node).set(probe.reachable)
            self.writable.labels(name, probe.node).set(probe.reachable and probe.writable)
        for node in self.pair.nodes:
            self.primary.labels(name, node).set(node == state.primary)
        replica = next((p for p in probes if p.node != state.primary), None)
        primary = next((p for p in probes if p.node == state.primary), None)
        self._lag(replica, primary)
        self.in_sync.labels(name).set(state.replica_in_sync)
        self.term.labels(name).set(state.term)

    def _lag(self, replica: NodeProbe | None, primary: NodeProbe | None) -> None:
        name = self.pair.name
        seconds = replica.lag_seconds if replica is not None and replica.reachable else None
        # PostgreSQL: the standby's unreplayed WAL, or else what the primary has not sent.
        lag_bytes = next(
            (
                p.lag_bytes
                for p in (replica, primary)
                if p is not None and p.reachable and p.lag_bytes is not None
            ),
            None,
        )
        for gauge, value in ((self.lag_seconds, seconds), (self.lag_bytes, lag_bytes)):
            if value is not None:
                gauge.labels(name).set(value)
            else:  # unknown is no sample, never a zero that reads as "caught up"
                with contextlib.suppress(KeyError):
                    gauge.remove(name)

    def judged(self, health: Health, event: str | None, seconds: float, now: float) -> None:
        name = self.pair.name
        for each in Health:
            self.health.labels(name, each.value).set(each is health)
        if event:
            self.events.labels(name, event).inc()
        self.cycle_seconds.labels(name).observe(seconds)
        self.last_cycle.labels(name).set(now)
