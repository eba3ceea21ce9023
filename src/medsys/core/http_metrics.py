"""Every service's HTTP metrics, under the same names and labels, for Prometheus:

- ``medsys_http_requests_total{route, method, status}``: requests answered, by route
  template (``/api/consultations/<int:consultation_id>``, never the filled-in path);
- ``medsys_http_request_seconds{route}``: how long they took (a histogram);
- ``medsys_http_requests_in_flight``: requests being served now.

Prometheus' own ``job`` and ``instance`` labels say which service and instance answered.
Hand-written on prometheus_client rather than taken from prometheus-flask-exporter and
prometheus-fastapi-instrumentator: those two name and label the same things differently,
and one set of names across services is the point.

Under gunicorn (clinical, the portal) every worker process writes its values to files in
``PROMETHEUS_MULTIPROC_DIR``, which the launcher's gunicorn hooks make before the workers
start, and ``/metrics`` adds them up (prometheus_client's multiprocess mode); under
uvicorn (admin, the middleware) one process holds them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi import Response as FastAPIResponse
from fastapi.responses import PlainTextResponse
from fastapi.telemetry import TelemetryConfig
from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from medsys.core import replica_reads
from medsys.core.errors import Forbidden
from medsys.core.scrape import REFUSED, configured_token, may_scrape

# FastAPI's own OpenTelemetry hooks, off in every FastAPI app (``FastAPI(telemetry=...)``):
# our metrics are these, for Prometheus, and nothing here exports traces; left on, FastAPI
# asks OpenTelemetry on every request whether anyone is listening.
NO_OPENTELEMETRY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
}
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)  # 3 s: the SLA


class HttpMetrics:
    """One per app (tests build many apps in one process), in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "medsys_http_requests_total",
            "HTTP requests answered",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "medsys_http_request_seconds",
            "Time to answer an HTTP request",
            ["route"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "medsys_http_requests_in_flight",
            "HTTP requests being answered now",
            multiprocess_mode="livesum",
            registry=self.registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def exposition(self, *extra: CollectorRegistry) -> bytes:
        """The text Prometheus reads: every worker's values under gunicorn, plus any
        registry of the service's own (the middleware's breakers)."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
            text = generate_latest(merged)
        else:
            text = generate_latest(self.registry) + generate_latest(replica_reads.REGISTRY)
        return text + b"".join(generate_latest(registry) for registry in extra)


def install_flask(app: Flask) -> HttpMetrics:
    """Count every request of a Flask app and serve ``/metrics``."""
    metrics = HttpMetrics()
    token = configured_token()
    app.extensions["medsys_metrics"] = metrics

    @app.before_request
    def started() -> None:
        g.metrics_started = time.monotonic()
        metrics.in_flight.inc()

    @app.after_request
    def answered(response: Response) -> Response:
        started_at = g.pop("metrics_started", None)
        if started_at is not None:
            metrics.in_flight.dec()
            route = request.url_rule.rule if request.url_rule is not None else "unmatched"
            metrics.observe(
                request.method, route, response.status_code, time.monotonic() - started_at
            )
        return response

    @app.teardown_request
    def ended(error: BaseException | None) -> None:
        if g.pop("metrics_started", None) is not None:  # no answer was made (an exception)
            metrics.in_flight.dec()

    @app.get("/metrics")
    def scrape() -> Any:
        if not may_scrape(request.remote_addr, request.headers.get("Authorization"), token):
            return Response(REFUSED, status=403, mimetype="text/plain")
        return Response(metrics.exposition(), mimetype=CONTENT_TYPE_LATEST)

    return metrics


def fastapi_route(
    metrics: HttpMetrics, extra: Callable[[], list[CollectorRegistry]] = list
) -> APIRouter:
    """``/metrics`` for a FastAPI service; ``extra``: registries of its own to add."""
    token = configured_token()
    router = APIRouter(tags=["meta"])

    @router.get(
        "/metrics",
        response_class=PlainTextResponse,
        responses={403: {"description": "Ni local ni con el token de lectura de métricas"}},
    )
    def scrape(request: Request) -> FastAPIResponse:
        """Prometheus text; only from this machine or with ``Authorization: Bearer
        <MEDSYS_METRICS_TOKEN>``."""
        client = request.client.host if request.client else None
        if not may_scrape(client, request.headers.get("Authorization"), token):
            raise Forbidden(REFUSED)
        return FastAPIResponse(metrics.exposition(*extra()), media_type=CONTENT_TYPE_LATEST)

    return router
