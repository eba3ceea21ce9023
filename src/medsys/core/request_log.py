"""One JSON log line per request, a request id and the HTTP metrics (core.http_metrics),
for the FastAPI services (middleware, admin) as a plain ASGI middleware, and the same
line and id for the Flask apps (``install_flask``).

Not Starlette's ``BaseHTTPMiddleware`` (``@app.middleware("http")``): it runs every
request through an extra task and memory streams, measurable on hops that every portal
page crosses.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

from flask import Flask, Response, g, request
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from medsys.core.http_metrics import HttpMetrics
from medsys.core.request_parts import request_id_of


def _line(request_id: str, method: str, path: str, status: int, seconds: float) -> str:
    """The one shape of a request's log line, whatever framework answered it."""
    return json.dumps(
        {
            "request_id": request_id,
            "method": method,
            "path": path,
            "status": status,
            "ms": round(seconds * 1000, 1),
        }
    )


class RequestLog:
    """Keeps the caller's X-Request-ID (or makes one), answers with it, exposes it as
    ``request.state.request_id``, and logs method, path, status and milliseconds.
    ``extra_headers`` are added to every answer (``X-Served-By`` behind a balancer)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        logger: logging.Logger,
        metrics: HttpMetrics | None = None,
        extra_headers: Callable[[], dict[str, str]] = dict,
    ) -> None:
        self.app = app
        self.logger = logger
        self.metrics = metrics
        self.extra_headers = extra_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        given = Headers(scope=scope).get("x-request-id")
        request_id = request_id_of(given)
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = request_id
                for name, value in self.extra_headers().items():
                    headers[name] = value
            await send(message)

        if self.metrics is not None:
            self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.monotonic() - started
            if self.metrics is not None:
                self.metrics.in_flight.dec()
                route = getattr(scope.get("route"), "path", "unmatched")
                self.metrics.observe(scope["method"], route, status, elapsed)
            self.logger.info(_line(request_id, scope["method"], scope["path"], status, elapsed))


def install_flask(app: Flask, logger: logging.Logger) -> None:
    """The same request id and log line for a Flask app (clinical, the portal); gunicorn's
    own access log is off, so each request is logged once."""

    @app.before_request
    def started() -> None:
        g.request_started = time.monotonic()
        g.request_id = request_id_of(request.headers.get("X-Request-ID"))

    @app.after_request
    def finished(response: Response) -> Response:
        request_id = g.get("request_id") or request_id_of(None)
        response.headers["X-Request-ID"] = request_id
        elapsed = time.monotonic() - g.get("request_started", time.monotonic())
        logger.info(_line(request_id, request.method, request.path, response.status_code, elapsed))
        return response
