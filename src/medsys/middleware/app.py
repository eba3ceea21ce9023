"""The middleware (FastAPI, :8000): ``create_app()``; `/docs`, `/health`, `/metrics`.

Resources are made in ``lifespan``: one pooled async HTTP client, the upstreams with a
circuit breaker per instance (clinical: ``app1`` then ``app1-replica``; admin: the nginx
balancer, which fails over between its own instances), and the metrics registry.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from fastapi import FastAPI, Request

from medsys.core import api_explorer
from medsys.core.api_errors import register_error_handlers
from medsys.core.auth import Verifier
from medsys.core.http_metrics import NO_OPENTELEMETRY, HttpMetrics
from medsys.core.http_metrics import fastapi_route as http_metrics_route
from medsys.core.keys import keyring, signing_key
from medsys.core.logs import configure_logging
from medsys.core.privacy import PrivateResponses
from medsys.core.request_guard import MarkUnstorable
from medsys.core.request_log import RequestLog
from medsys.core.settings import Settings, load_settings
from medsys.core.tokens import RELAY_LIFETIME, Service, TokenCache
from medsys.middleware import routes
from medsys.middleware.answers import HealthOut, IndexOut
from medsys.middleware.metrics import Metrics
from medsys.middleware.resilience.breaker import BreakerPolicy, State
from medsys.middleware.upstreams import (
    AiohttpTransport,
    Gateway,
    Upstream,
    make_session,
    make_upstream,
    probe_open_breakers,
)

log = logging.getLogger("medsys.middleware")
PROBE_EVERY = 1.0  # seconds between looks at open breakers


def build_upstreams(
    settings: Settings, metrics: Metrics, policy: BreakerPolicy
) -> dict[str, Upstream]:
    def url(name: str) -> str:
        return settings.url(name)

    def on_transition(instance: str, old: State, new: State) -> None:
        metrics.transition(instance, old, new)
        log.warning("circuit %s: %s -> %s", instance, old.value, new.value)

    return {
        "clinical": make_upstream(
            "clinical",
            [("app1", url("app1")), ("app1-replica", url("app1-replica"))],
            policy,
            on_transition,
        ),
        "admin": make_upstream("admin", [("admin", url("nginx"))], policy, on_transition),
    }


async def _probe_forever(client: aiohttp.ClientSession, upstreams: list[Upstream]) -> None:
    while True:
        await asyncio.sleep(PROBE_EVERY)
        try:
            await probe_open_breakers(client, upstreams)
        except Exception:  # the prober must outlive any single bad probe
            log.exception("breaker probe failed")


def create_app(settings: Settings | None = None, policy: BreakerPolicy | None = None) -> FastAPI:
    configure_logging()
    http_metrics = HttpMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resolved = settings or load_settings()
        metrics = Metrics()
        verifier = Verifier(Service.MIDDLEWARE, keyring(resolved, Service.MIDDLEWARE))
        relay = TokenCache(signing_key(resolved, Service.MIDDLEWARE), lifetime=RELAY_LIFETIME)
        async with make_session() as client:
            app.state.metrics = metrics
            app.state.verifier = verifier
            app.state.relay_tokens = relay
            app.state.upstreams = build_upstreams(resolved, metrics, policy or BreakerPolicy())
            app.state.gateway = Gateway(
                AiohttpTransport(client),
                observe=metrics.observe_upstream,
                on_retry=lambda upstream: metrics.retries.labels(upstream).inc(),
            )
            prober = asyncio.create_task(_probe_forever(client, list(app.state.upstreams.values())))
            yield
            prober.cancel()

    app = FastAPI(
        telemetry=NO_OPENTELEMETRY,
        title="medsys middleware",
        description="Integración del portal con los servicios clínico y administrativo: "
        "circuit breakers, reintentos, failover y transformación de datos.",
        version="1.0",
        lifespan=lifespan,
        docs_url=None,  # served offline below
        redoc_url=None,
    )
    api_explorer.install_fastapi(app)
    app.include_router(routes.router)
    _register_meta(app)
    register_error_handlers(app)
    app.add_middleware(MarkUnstorable)
    app.add_middleware(PrivateResponses)
    app.include_router(http_metrics_route(http_metrics, lambda: [app.state.metrics.registry]))
    app.add_middleware(RequestLog, logger=log, metrics=http_metrics)
    return app


def _register_meta(app: FastAPI) -> None:
    @app.get("/", tags=["meta"], response_model=IndexOut)
    def index() -> dict[str, Any]:
        return {"service": "middleware", "docs": "/docs", "health": "/health"}

    @app.get("/health", tags=["meta"], response_model=HealthOut)
    def health(request: Request) -> dict[str, Any]:
        """Every upstream instance with its breaker state, counters and last error."""
        upstreams = request.app.state.upstreams
        report = {
            name: {instance.name: instance.breaker.snapshot() for instance in upstream.instances}
            for name, upstream in upstreams.items()
        }
        usable = {
            name: any(i.breaker.state is not State.OPEN for i in upstream.instances)
            for name, upstream in upstreams.items()
        }
        return {
            "service": "middleware",
            "status": "ok" if all(usable.values()) else "degraded",
            "upstreams": report,
            "retry_budget_refusals": {n: u.budget.refused for n, u in upstreams.items()},
        }
