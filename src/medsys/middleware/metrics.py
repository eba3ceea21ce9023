"""The middleware's own Prometheus metrics (upstream calls, retries, breakers), in a
registry of its own (one per app, so tests can build many apps in one process); its HTTP
requests are counted like every service's (core.http_metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from medsys.middleware.resilience.breaker import State

STATE_VALUE = {State.CLOSED: 0, State.HALF_OPEN: 1, State.OPEN: 2}


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.upstream_calls = Counter(
            "medsys_middleware_upstream_calls_total",
            "Calls to upstream instances",
            ["instance", "outcome"],
            registry=self.registry,
        )
        self.upstream_latency = Histogram(
            "medsys_middleware_upstream_seconds",
            "Upstream call latency",
            ["instance"],
            registry=self.registry,
        )
        self.retries = Counter(
            "medsys_middleware_retries_total", "Retry rounds", ["upstream"], registry=self.registry
        )
        self.transitions = Counter(
            "medsys_middleware_breaker_transitions_total",
            "Circuit breaker transitions",
            ["instance", "from_state", "to_state"],
            registry=self.registry,
        )
        self.breaker_state = Gauge(
            "medsys_middleware_breaker_state",
            "0 closed, 1 half-open, 2 open",
            ["instance"],
            registry=self.registry,
        )

    def observe_upstream(self, instance: str, outcome: str, seconds: float) -> None:
        self.upstream_calls.labels(instance, outcome).inc()
        self.upstream_latency.labels(instance).observe(seconds)

    def transition(self, instance: str, old: State, new: State) -> None:
        self.transitions.labels(instance, old.value, new.value).inc()
        self.breaker_state.labels(instance).set(STATE_VALUE[new])
