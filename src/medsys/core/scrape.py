"""Who may read a process's Prometheus metrics, and a small server for the processes that
have no web framework of their own (the monitors, the journey prober).

The rule is the same everywhere: a process on this machine, or anyone presenting the
scrape token (MEDSYS_METRICS_TOKEN, for a Prometheus elsewhere, as in docker-compose).
Kept apart from ``core.http_metrics`` so a monitor does not load Flask and FastAPI.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

MINIMUM_SCRAPE_TOKEN = 32
REFUSED = "Las métricas se leen solo desde este equipo o con su token."


def may_scrape(client_host: str | None, authorization: str | None, token: str) -> bool:
    """``/metrics`` answers a process on this machine, or anyone presenting the token."""
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


def configured_token() -> str:
    return scrape_token(os.environ.get("MEDSYS_METRICS_TOKEN", ""))


StartResponse = Callable[[str, list[tuple[str, str]]], Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def metrics_app(registry: CollectorRegistry, token: str) -> WsgiApp:
    """A WSGI app answering ``/metrics`` (and ``/health``) by the scrape rule."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/health":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok\n"]
        if path != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        if not may_scrape(environ.get("REMOTE_ADDR"), environ.get("HTTP_AUTHORIZATION"), token):
            start_response("403 Forbidden", [("Content-Type", "text/plain; charset=utf-8")])
            return [REFUSED.encode()]
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
        return [generate_latest(registry)]

    return app


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a scrape in progress never holds the process open


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Prometheus scrapes every few seconds; one line each would drown the log."""


def serve_in_background(app: WsgiApp, host: str, port: int) -> _ThreadingServer:
    """Serve a WSGI app on ``host:port`` from a daemon thread; returns the server."""
    server = make_server(
        host, port, app, server_class=_ThreadingServer, handler_class=_QuietHandler
    )
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server


def serve_metrics_in_background(
    registry: CollectorRegistry, host: str, port: int
) -> _ThreadingServer:
    return serve_in_background(metrics_app(registry, configured_token()), host, port)
