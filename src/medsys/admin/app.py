"""The admin service (App2), FastAPI: ``create_app()`` builds one instance.

Run twice by the launcher (``app2-1``, ``app2-2``) with uvicorn, behind nginx on :3002.
Resources (the database router, the token key) are made in ``lifespan``, never at import.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from medsys.admin.office import account as office_account
from medsys.admin.office import booking as office_booking
from medsys.admin.office import charges_page as office_charges
from medsys.admin.office import exports as office_exports
from medsys.admin.office import money as office_money
from medsys.admin.office import pages as office_pages
from medsys.admin.office import reports_page as office_reports
from medsys.admin.office import users as office_users
from medsys.admin.office.web import PREFIX, page_error, register_office_handlers
from medsys.admin.routers import accounts, money, patients
from medsys.core import api_explorer, look, passwords
from medsys.core.admin_answers import HealthOut, ServiceOut
from medsys.core.api_docs import BALANCED
from medsys.core.api_errors import register_error_handlers
from medsys.core.auth import Verifier
from medsys.core.databases import pair_database
from medsys.core.db import Database, DatabaseRoutingError
from medsys.core.health import health_status
from medsys.core.http_metrics import NO_OPENTELEMETRY, HttpMetrics
from medsys.core.http_metrics import fastapi_route as http_metrics_route
from medsys.core.keys import keyring, private_text, signing_key
from medsys.core.logs import configure_logging
from medsys.core.privacy import PrivateResponses
from medsys.core.relay import MiddlewareClient
from medsys.core.request_guard import MarkUnstorable
from medsys.core.request_log import RequestLog
from medsys.core.settings import Settings, load_settings
from medsys.core.staff import StaffDirectory, StaffModels
from medsys.core.tokens import Role, Service

log = logging.getLogger("medsys.admin")


def create_app(
    settings: Settings | None = None,
    instance: str | None = None,
    *,
    database: Database | None = None,
) -> FastAPI:
    """One instance; tests hand it a ``database``, in service it opens the admin pair."""
    configure_logging()
    http_metrics = HttpMetrics()
    signer = signing_key(settings or load_settings(), Service.ADMIN)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resolved = settings or load_settings()
        app.state.database = database or pair_database(resolved, "admin")
        app.state.verifier = Verifier(Service.ADMIN, keyring(resolved, Service.ADMIN))
        app.state.staff = staff_directory_for(app.state.database, resolved)
        app.state.instance = instance or os.environ.get("MEDSYS_INSTANCE", "app2")
        # The clinical agenda, for a clerk booking by phone (a relay token per clerk).
        app.state.middleware = MiddlewareClient(resolved.url("middleware"), signer, timeout=5.0)
        # A patient's portal account, for a clerk removing a lost second factor.
        app.state.portal = MiddlewareClient(
            resolved.url("app3"), signer, timeout=5.0, audience=Service.PORTAL
        )
        # Before the first login, so an unknown account's takes as long as any other's.
        threading.Thread(target=passwords.warm, name="warm", daemon=True).start()
        yield
        app.state.database.dispose()

    app = FastAPI(
        telemetry=NO_OPENTELEMETRY,
        title="medsys admin (App2)",
        description="Pacientes, previsión, facturación y pagos. Montos en pesos chilenos enteros.",
        version="1.0",
        lifespan=lifespan,
        docs_url=None,  # served offline below
        redoc_url=None,
        responses=BALANCED,  # every route is reached through nginx
    )
    api_explorer.install_fastapi(app)
    app.include_router(accounts.router)
    app.include_router(patients.router)
    app.include_router(money.router)
    app.include_router(office_pages.router)
    app.include_router(office_account.router)
    app.include_router(office_users.router)
    app.include_router(office_money.router)
    app.include_router(office_reports.router)
    app.include_router(office_booking.router)
    app.include_router(office_charges.router)
    app.include_router(office_exports.router)
    app.mount("/look", StaticFiles(directory=look.STATIC), name="look")
    _register_meta(app)
    register_error_handlers(
        app, database_name="La base de datos administrativa", pages=(PREFIX, page_error)
    )
    register_office_handlers(app)
    # Every instance derives the same cookie key from admin's signing key, so a clerk's
    # browser session is good on any instance nginx picks.
    cookie_key = hashlib.sha256(f"admin-session:{private_text(signer.private_key)}".encode())
    app.add_middleware(
        SessionMiddleware,
        secret_key=cookie_key.hexdigest(),
        session_cookie="medsys_admin",
        max_age=12 * 3600,
        same_site="lax",
        https_only=os.environ.get("MEDSYS_SECURE_COOKIES") == "1",
    )
    app.add_middleware(MarkUnstorable)
    app.add_middleware(PrivateResponses)
    app.include_router(http_metrics_route(http_metrics))
    app.add_middleware(
        RequestLog,
        logger=log,
        metrics=http_metrics,
        # Which instance answered, for whoever debugs the balancer.
        extra_headers=lambda: {"X-Served-By": getattr(app.state, "instance", "")},
    )
    return app


def staff_directory_for(database: Database, settings: Settings) -> StaffDirectory:
    """Clerks' and accountants' accounts; also what `medsys user` uses for these roles."""
    from medsys.admin.models import LoginCounter, StaffAccount, StaffSession

    return StaffDirectory(
        database,
        StaffModels(account=StaffAccount, session=StaffSession, counter=LoginCounter),
        signing_key(settings, Service.ADMIN),
        roles=frozenset({Role.CLERK, Role.ACCOUNTANT}),
    )


def _register_meta(app: FastAPI) -> None:
    @app.get("/", tags=["meta"], response_model=ServiceOut)
    def index(request: Request) -> dict[str, Any]:
        return {"service": "admin", "instance": request.app.state.instance}

    @app.get(
        "/health",
        tags=["meta"],
        response_model=HealthOut,
        responses={503: {"model": HealthOut, "description": "Sin base de datos primaria"}},
    )
    def health(request: Request, response: Response) -> dict[str, Any]:
        try:
            primary: str | None = request.app.state.database.find_primary()
        except DatabaseRoutingError:
            primary = None
        response.status_code = health_status(primary is not None, request.query_params)
        return {
            "service": "admin",
            "instance": request.app.state.instance,
            "database": {"primary": primary, "reachable": primary is not None},
            "status": "ok" if primary else "unavailable",
        }
