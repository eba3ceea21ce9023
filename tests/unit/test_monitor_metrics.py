"""A monitor's metrics say what its probes and judgements said, and no more."""

from __future__ import annotations

import urllib.request
from http.client import HTTPResponse

from medsys.core.scrape import serve_metrics_in_background
from medsys.core.topology import pair_named
from medsys.failover.decision import Health
from medsys.failover.metrics import MonitorMetrics
from medsys.pairs.node import NodeProbe
from medsys.pairs.state import PairState

CLINICAL = pair_named("clinical")
ADMIN = pair_named("admin")


def value(metrics: MonitorMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_probes_roles_and_lag_of_a_healthy_mariadb_pair() -> None:
    metrics = MonitorMetrics(CLINICAL)
    state = PairState("clinical", "mariadb-master", term=3, replica_in_sync=True)
    primary = NodeProbe("mariadb-master", reachable=True, writable=True)
    replica = NodeProbe("mariadb-replica", reachable=True, receiving=True, lag_seconds=2.0)
    metrics.observed(state, (primary, replica))
    metrics.observed(state, (primary, replica))

    node = {"pair": "clinical", "node": "mariadb-master"}
    assert value(metrics, "medsys_monitor_probes_total", **node, result="ok") == 2
    assert value(metrics, "medsys_monitor_probes_total", **node, result="failed") == 0
    assert value(metrics, "medsys_monitor_node_primary", **node) == 1
    assert (
        value(metrics, "medsys_monitor_node_primary", pair="clinical", node="mariadb-replica") == 0
    )
    assert value(metrics, "medsys_monitor_node_writable", **node) == 1
    assert value(metrics, "medsys_monitor_replica_lag_seconds", pair="clinical") == 2.0
    assert value(metrics, "medsys_monitor_replica_lag_bytes", pair="clinical") is None
    assert value(metrics, "medsys_monitor_replica_in_sync", pair="clinical") == 1
    assert value(metrics, "medsys_monitor_term", pair="clinical") == 3


def test_an_unreachable_replica_has_no_lag_rather_than_a_zero() -> None:
    metrics = MonitorMetrics(CLINICAL)
    state = PairState("clinical", "mariadb-master")
    primary = NodeProbe("mariadb-master", reachable=True, writable=True)
    metrics.observed(state, (primary, NodeProbe("mariadb-replica", True, lag_seconds=0.0)))
    assert value(metrics, "medsys_monitor_replica_lag_seconds", pair="clinical") == 0.0
    metrics.observed(state, (primary, NodeProbe("mariadb-replica", reachable=False)))
    assert value(metrics, "medsys_monitor_replica_lag_seconds", pair="clinical") is None
    replica = {"pair": "clinical", "node": "mariadb-replica"}
    assert value(metrics, "medsys_monitor_probes_total", **replica, result="failed") == 1
    assert value(metrics, "medsys_monitor_node_reachable", **replica) == 0


def test_postgres_lag_is_in_bytes_from_the_standby_or_else_the_primary() -> None:
    metrics = MonitorMetrics(ADMIN)
    state = PairState("admin", "postgres_primary")
    primary = NodeProbe("postgres_primary", True, writable=True, lag_bytes=4096)
    metrics.observed(state, (primary, NodeProbe("postgres_replica", True, lag_bytes=512)))
    assert value(metrics, "medsys_monitor_replica_lag_bytes", pair="admin") == 512
    metrics.observed(state, (primary, NodeProbe("postgres_replica", reachable=False)))
    assert value(metrics, "medsys_monitor_replica_lag_bytes", pair="admin") == 4096


def test_judgements_count_failovers_and_keep_one_health_current() -> None:
    metrics = MonitorMetrics(CLINICAL)
    assert value(metrics, "medsys_monitor_events_total", pair="clinical", event="promoted") == 0
    metrics.judged(Health.PROMOTING, "primary-dead", 0.02, now=1000.0)
    metrics.judged(Health.HEALTHY, "promoted", 0.5, now=1001.0)
    metrics.judged(Health.HEALTHY, None, 0.01, now=1001.5)
    assert value(metrics, "medsys_monitor_events_total", pair="clinical", event="promoted") == 1
    assert value(metrics, "medsys_monitor_events_total", pair="clinical", event="primary-dead") == 1
    current = [
        h
        for h in Health
        if value(metrics, "medsys_monitor_health", pair="clinical", health=h.value)
    ]
    assert current == [Health.HEALTHY]
    assert value(metrics, "medsys_monitor_cycle_seconds_count", pair="clinical") == 3
    assert value(metrics, "medsys_monitor_last_cycle_timestamp_seconds", pair="clinical") == 1001.5


def test_the_monitor_serves_its_metrics_to_this_machine() -> None:
    metrics = MonitorMetrics(CLINICAL)
    metrics.judged(Health.HEALTHY, None, 0.01, now=5.0)
    server = serve_metrics_in_background(metrics.registry, "127.0.0.1", 0)
    try:
        port = server.server_address[1]
        answer: HTTPResponse
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
        assert 'medsys_monitor_last_cycle_timestamp_seconds{pair="clinical"} 5.0' in text
    finally:
        server.shutdown()
        server.server_close()
