"""The clinical service (App1): ``create_app()`` builds one instance.

Run by the launcher as ``gunicorn 'medsys.clinical.app:create_app()'`` twice: ``app1`` and
``app1-replica`` (MEDSYS_INSTANCE). Both read and write through the shared database layer,
so either survives the other's death and both follow a database failover.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from flask import Flask, current_app, g, request
from werkzeug.exceptions import HTTPException

from medsys.core.auth import Verifier
from medsys.core.databases import pair_database
from medsys.core.db import DatabaseRoutingError, ReplicatedDatabase
from medsys.core.errors import MedsysError
from medsys.core.keys import keyring, signing_key
from medsys.core.logs import configure_logging
from medsys.core.settings import Settings, load_settings
from medsys.core.staff import StaffDirectory, StaffModels
from medsys.core.tokens import Role, Service

log = logging.getLogger("medsys.clinical")


def database() -> ReplicatedDatabase:
    db: ReplicatedDatabase = current_app.extensions["medsys_db"]
    return db


def staff_directory() -> StaffDirectory:
    directory: StaffDirectory = current_app.extensions["medsys_staff"]
    return directory


def create_app(settings: Settings | None = None, instance: str | None = None) -> Flask:
    configure_logging()
    settings = settings or load_settings()
    app = Flask(__name__)
    app.config.update(
        INSTANCE=instance or os.environ.get("MEDSYS_INSTANCE", "app1"),
        VERIFIER=Verifier(Service.CLINICAL, keyring(settings, Service.CLINICAL)),
        JSON_SORT_KEYS=False,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    database = pair_database(settings, "clinical")
    app.extensions["medsys_db"] = database
    app.extensions["medsys_staff"] = staff_directory_for(database, settings)
    _register_errors(app)
    _register_request_log(app)
    from medsys.clinical.views import auth, availability, consultations, legacy, meta

    for module in (meta, auth, availability, consultations, legacy):
        app.register_blueprint(module.blueprint)
    return app


def staff_directory_for(database: ReplicatedDatabase, settings: Settings) -> StaffDirectory:
    """Doctors' and nurses' accounts; also what `medsys user` uses for these roles."""
    from medsys.clinical.models import LoginCounter, Staff, StaffSession

    return StaffDirectory(
        database,
        StaffModels(account=Staff, session=StaffSession, counter=LoginCounter),
        signing_key(settings, Service.CLINICAL),
        roles=frozenset({Role.DOCTOR, Role.NURSE}),
    )


def _register_errors(app: Flask) -> None:
    @app.errorhandler(MedsysError)
    def known(error: MedsysError) -> tuple[dict[str, Any], int]:
        return error.body(), error.status

    @app.errorhandler(DatabaseRoutingError)
    def no_database(error: DatabaseRoutingError) -> tuple[dict[str, Any], int]:
        log.warning("database unavailable: %s", error)
        body = {"error": "unavailable", "message": "La base de datos clínica no está disponible."}
        return body, 503

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> tuple[dict[str, Any], int]:
        if isinstance(error, HTTPException):
            return http(error)
        log.exception("unexpected error on %s %s", request.method, request.path)
        body = {"error": "internal", "message": "Ocurrió un error inesperado; ya quedó registrado."}
        return body, 500

    @app.errorhandler(HTTPException)
    def http(error: HTTPException) -> tuple[dict[str, Any], int]:
        return {"error": error.name.lower().replace(" ", "_"), "message": error.description}, (
            error.code or 500
        )


def _register_request_log(app: Flask) -> None:
    @app.before_request
    def started() -> None:
        g.started = time.monotonic()
        g.request_id = request.headers.get("X-Request-ID") or os.urandom(8).hex()

    @app.after_request
    def finished(response: Any) -> Any:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        elapsed = (time.monotonic() - g.get("started", time.monotonic())) * 1000
        log.info(
            "%s %s %s %.1fms request_id=%s",
            request.method,
            request.path,
            response.status_code,
            elapsed,
            g.get("request_id"),
        )
        return response
