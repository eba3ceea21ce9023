"""The clinical service (App1): ``create_app()`` builds one instance.

Run by the launcher as ``gunicorn 'medsys.clinical.wsgi:application()'`` twice: ``app1`` and
``app1-replica`` (MEDSYS_INSTANCE). Both read and write through the shared database layer,
so either survives the other's death and both follow a database failover.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from medsys.clinical import extensions, labels
from medsys.clinical import openapi as clinical_openapi
from medsys.clinical.registry import PatientRegistry
from medsys.core import api_explorer, http_metrics, look, privacy, request_guard, request_log
from medsys.core.auth import Verifier
from medsys.core.clock import SANTIAGO
from medsys.core.databases import pair_database
from medsys.core.db import Database, DatabaseRoutingError
from medsys.core.errors import MedsysError
from medsys.core.keys import keyring, private_text, signing_key
from medsys.core.logs import configure_logging
from medsys.core.relay import MiddlewareClient
from medsys.core.settings import Settings, load_settings
from medsys.core.staff import StaffDirectory, StaffModels
from medsys.core.tokens import Role, Service

log = logging.getLogger("medsys.clinical")

TITLE = "medsys clinical (App1)"


def create_app(
    settings: Settings | None = None,
    instance: str | None = None,
    *,
    test_config: Mapping[str, Any] | None = None,
    database: Database | None = None,
) -> Flask:
    """One instance. Tests hand it ``test_config`` (Flask settings laid over ours) and a
    ``database``; in service it opens the clinical pair. Work a serving process does in
    the background is started by ``wsgi.application``, never here."""
    configure_logging()
    settings = settings or load_settings()
    signer = signing_key(settings, Service.CLINICAL)
    # Both instances derive the same cookie key from clinical's signing key, so a staff
    # member's browser session is good on either (and after either restarts).
    cookie_key = f"clinical-session:{private_text(signer.private_key)}"
    app = Flask(__name__)
    app.config.update(
        INSTANCE=instance or os.environ.get("MEDSYS_INSTANCE", "app1"),
        VERIFIER=Verifier(Service.CLINICAL, keyring(settings, Service.CLINICAL)),
        JSON_SORT_KEYS=False,
        SECRET_KEY=hashlib.sha256(cookie_key.encode()).hexdigest(),
        SESSION_COOKIE_NAME="medsys_clinical",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=os.environ.get("MEDSYS_SECURE_COOKIES") == "1",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        WTF_CSRF_TIME_LIMIT=8 * 3600,
    )
    app.config.from_mapping(test_config or {})
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    database = database or pair_database(settings, "clinical")
    extensions.init_app(
        app,
        database=database,
        staff=staff_directory_for(database, settings),
        registry=PatientRegistry(MiddlewareClient(settings.url("middleware"), signer, timeout=3.0)),
    )
    _register_errors(app)
    request_log.install_flask(app, log)
    from medsys.clinical.views import (
        auth,
        availability,
        consultations,
        legacy,
        meta,
        workspace_api,
    )

    for module in (meta, auth, availability, consultations, workspace_api, legacy):
        app.register_blueprint(module.blueprint)
        extensions.csrf.exempt(module.blueprint)  # bearer-token JSON: no cookie, no CSRF
    _register_workspace(app)
    return app


def _register_workspace(app: Flask) -> None:
    from medsys.clinical.workspace import (
        account,
        consultation,
        documents,
        pages,
        schedule,
        users,
    )
    from medsys.clinical.workspace.common import blueprint, form_key

    del account, consultation, documents, pages, schedule, users  # imported for their routes
    extensions.csrf.init_app(app)
    look.install(app)
    app.register_blueprint(blueprint)
    app.jinja_env.globals["form_key"] = form_key
    app.jinja_env.filters["hora"] = _local_time
    app.jinja_env.filters["fecha"] = _local_date
    app.jinja_env.filters["edad"] = _age
    app.jinja_env.filters["estado"] = labels.status
    app.jinja_env.filters["rol"] = labels.role
    app.jinja_env.globals["acceso"] = labels.access

    @app.context_processor
    def instance() -> dict[str, Any]:
        return {"instance": app.config["INSTANCE"]}

    privacy.install_flask(app)
    http_metrics.install_flask(app)
    api_explorer.install_flask(app, TITLE, lambda: clinical_openapi.document(app, title=TITLE))
    request_guard.install_flask(app)


def _local_time(moment: datetime | str | None) -> str:
    if moment is None:
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.astimezone(SANTIAGO).strftime("%d-%m-%Y %H:%M")


def _local_date(iso: str | None) -> str:
    """'2026-03-02' → '02-03-2026', as dates are written in Chile."""
    return date.fromisoformat(iso).strftime("%d-%m-%Y") if iso else ""


def _age(iso: str | None) -> str:
    """Whole years since a date of birth, today in Santiago."""
    if not iso:
        return ""
    born, today = date.fromisoformat(iso), datetime.now(SANTIAGO).date()
    years = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return f"{years} año" if years == 1 else f"{years} años"


def _page_error(status: int, message: str) -> tuple[str, int]:
    heading = "Sin permiso" if status == 403 else None
    return render_template("error.html", message=message, heading=heading), status


def _wants_page() -> bool:
    return request.blueprint == "workspace"


def staff_directory_for(database: Database, settings: Settings) -> StaffDirectory:
    """Doctors' and nurses' accounts; also what `medsys user` uses for these roles."""
    from medsys.clinical.models import LoginCounter, Staff, StaffSession

    return StaffDirectory(
        database,
        StaffModels(account=Staff, session=StaffSession, counter=LoginCounter),
        signing_key(settings, Service.CLINICAL),
        roles=frozenset({Role.DOCTOR, Role.NURSE}),
    )


def _register_errors(app: Flask) -> None:
    """JSON for the API, a Spanish page for the workspace."""

    @app.errorhandler(MedsysError)
    def known(error: MedsysError) -> Any:
        if _wants_page():
            return _page_error(error.status, error.message)
        return error.body(), error.status

    @app.errorhandler(CSRFError)
    def forged(error: CSRFError) -> Any:
        return _page_error(400, "El formulario expiró o fue alterado. Vuelva a intentarlo.")

    @app.errorhandler(DatabaseRoutingError)
    def no_database(error: DatabaseRoutingError) -> Any:
        log.warning("database unavailable: %s", error)
        message = "La base de datos clínica no está disponible."
        if _wants_page():
            return _page_error(503, message + " Intente de nuevo en unos segundos.")
        return {"error": "unavailable", "message": message}, 503

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Any:
        if isinstance(error, HTTPException):
            return http(error)
        log.exception("unexpected error on %s %s", request.method, request.path)
        message = "Ocurrió un error inesperado; ya quedó registrado."
        if _wants_page():
            return _page_error(500, message)
        return {"error": "internal", "message": message}, 500

    @app.errorhandler(HTTPException)
    def http(error: HTTPException) -> Any:
        if _wants_page():
            return _page_error(error.code or 500, error.description or "Solicitud inválida.")
        return {"error": error.name.lower().replace(" ", "_"), "message": error.description}, (
            error.code or 500
        )
