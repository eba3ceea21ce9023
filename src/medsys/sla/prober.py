"""The journey prober: ``python -m medsys.sla.prober``, an exporter in the blackbox
exporter's manner for the journeys only medsys can walk (``sla.journeys``).

Prometheus asks ``/probe?journey=NAME`` every few seconds; each request is one attempt,
answered with ``probe_success`` and ``probe_duration_seconds`` like the blackbox
exporter's, so every journey's availability is read the same way. ``/metrics`` counts the
attempts and their failures by journey; ``/health`` says the process is up. Both
``/probe`` and ``/metrics`` answer only this machine or the scrape token (core.scrape).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)

from medsys.core.logs import configure_logging
from medsys.core.scrape import (
    REFUSED,
    StartResponse,
    WsgiApp,
    configured_token,
    may_scrape,
    metrics_app,
    serve_in_background,
)
from medsys.core.secrets import load_secrets
from medsys.core.settings import load_settings
from medsys.core.topology import PROBE_RUT
from medsys.sla.journeys import Attempt, Journeys, every_journey

log = logging.getLogger("medsys.prober")


def probe_answer(attempt: Attempt) -> bytes:
    registry = CollectorRegistry()
    Gauge("probe_success", "Whether the journey worked", registry=registry).set(attempt.success)
    Gauge("probe_duration_seconds", "How long the attempt took", registry=registry).set(
        attempt.seconds
    )
    return generate_latest(registry)


def prober_app(journeys: Journeys, token: str) -> WsgiApp:
    registry = CollectorRegistry()
    attempts = Counter(
        "medsys_journey_attempts_total",
        "Journey attempts, by journey and result",
        ["journey", "result"],
        registry=registry,
    )
    for name in journeys.names:
        for result in ("success", "failure"):
            attempts.labels(name, result)
    own_metrics = metrics_app(registry, token)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/probe":
            return own_metrics(environ, start_response)
        if not may_scrape(environ.get("REMOTE_ADDR"), environ.get("HTTP_AUTHORIZATION"), token):
            start_response("403 Forbidden", [("Content-Type", "text/plain; charset=utf-8")])
            return [REFUSED.encode()]
        name = parse_qs(environ.get("QUERY_STRING", "")).get("journey", [""])[0]
        if name not in journeys.names:
            start_response("400 Bad Request", [("Content-Type", "text/plain; charset=utf-8")])
            return [f"journey must be one of: {', '.join(journeys.names)}\n".encode()]
        attempt = journeys.attempt(name)
        attempts.labels(name, "success" if attempt.success else "failure").inc()
        if not attempt.success:
            log.info("journey %s failed after %.2f s: %s", name, attempt.seconds, attempt.detail)
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
        return [probe_answer(attempt)]

    return app


def main(argv: list[str]) -> int:
    configure_logging()
    if len(argv) > 1:
        print("usage: python -m medsys.sla.prober", file=sys.stderr)
        return 2
    settings = load_settings()
    journeys = every_journey(
        settings, load_secrets(settings), writer=f"prober-{os.uname().nodename}", rut=PROBE_RUT
    )
    server = serve_in_background(
        prober_app(journeys, configured_token()), settings.bind_address, settings.port("prober")
    )
    log.info("journey prober on port %d: %s", server.server_port, ", ".join(journeys.names))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
