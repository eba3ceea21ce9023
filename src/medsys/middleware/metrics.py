"""Prometheus metrics of the middleware, in a registry of its own (one per app, so tests
can build many apps in one process)."""

from __future__ import annotations

import hmac
import ipaddress

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from medsys.middleware.resilience.breaker import State

STATE_VALUE = {State.CLOSED: 0, State.HALF_OPEN: 1, State.OPEN: 2}
MINIMUM_SCRAPE_TOKEN = 32


def may_scrape(client_host: str | None, authorization: str | None, token: str) -> bool:
    """``/metrics`` answers a process on this machine, or anyone presenting the scrape
    token (MEDSYS_METRICS_TOKEN, for a Prometheus elsewhere); nobody else."""
    if token and authorization is not None:
        scheme, _, presented = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(presented.encode(), token.encode()):
            return True
    try:
        return client_host is not None and ipaddress.ip_address(client_host).is_loopback
    except ValueError:
        return False


def scrape_token(value: str) -> str:
    """The configured token; a short one is refused rather than trusted."""
    if value and len(value) < MINIMUM_SCRAPE_TOKEN:
        raise ValueError(f"MEDSYS_METRICS_TOKEN must be at least {MINIMUM_SCRAPE_TOKEN} characters")
    return value


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "medsys_middleware_requests_total",
            "Client requests",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "medsys_middleware_request_seconds",
            "Client request latency",
            ["route"],
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10),
            registry=self.registry,
        )
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
