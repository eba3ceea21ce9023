"""Liveness and readiness: `/` names the instance (a browser is sent to the workspace),
`/health` checks the database primary."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, redirect, request, url_for
from werkzeug.wrappers import Response

from medsys.clinical.extensions import database
from medsys.core.db import DatabaseRoutingError
from medsys.core.health import health_status

blueprint = Blueprint("meta", __name__)


def _primary() -> str | None:
    try:
        return database().find_primary()
    except DatabaseRoutingError:
        return None


@blueprint.get("/")
def index() -> dict[str, Any] | Response:
    if request.accept_mimetypes.best == "text/html":  # a browser: the workspace
        return redirect(url_for("workspace.agenda"))
    primary = _primary()
    return {
        "service": "clinical",
        "instance": current_app.config["INSTANCE"],
        "status": "ok" if primary else "degraded",
        "database_primary": primary,
    }


@blueprint.get("/health")
def health() -> tuple[dict[str, Any], int]:
    primary = _primary()
    body = {
        "service": "clinical",
        "instance": current_app.config["INSTANCE"],
        "database": {"primary": primary, "reachable": primary is not None},
        "status": "ok" if primary else "unavailable",
    }
    return body, health_status(primary is not None, request.args)
