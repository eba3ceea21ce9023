"""The patient portal (App3, Flask, server-rendered Spanish pages): ``create_app()``.

Sessions live in signed cookies (HttpOnly, SameSite=Lax; Secure when
MEDSYS_PORTAL_SECURE_COOKIES=1, for a deployment behind HTTPS), with a 15-minute idle
timeout; every form carries a CSRF token (Flask-WTF). The cookie key is derived from the
portal's own signing key, made at `medsys up`, never written in code. Clinical and admin
data come only through the middleware.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, render_template
from flask_wtf.csrf import CSRFError

from medsys.core import http_metrics, look, privacy, request_guard, request_log
from medsys.core.auth import Verifier
from medsys.core.clock import date_text, local_iso
from medsys.core.databases import pair_database
from medsys.core.db import Database
from medsys.core.keys import keyring, private_text, signing_key
from medsys.core.logs import configure_logging
from medsys.core.settings import Settings, load_settings
from medsys.core.tokens import Service
from medsys.portal import extensions
from medsys.portal.extensions import IDLE_TIMEOUT
from medsys.portal.gateway import Middleware

log = logging.getLogger("medsys.portal")


def portal_url(settings: Settings, environ: Mapping[str, str] | None = None) -> str:
    """Where patients reach the portal (MEDSYS_PORTAL_URL; by default its local address):
    the base of every link the portal sends, never taken from a request."""
    environ = os.environ if environ is None else environ
    configured = environ.get("MEDSYS_PORTAL_URL", "").strip().rstrip("/")
    url = configured or f"http://127.0.0.1:{settings.port('app3')}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path:
        raise ValueError(f"MEDSYS_PORTAL_URL must be like https://portal.example.cl, got {url!r}")
    return url


def trusted_hosts(public_url: str, extra: str = "", *, service_name: str = "") -> list[str]:
    """The portal's own name, loopback (health checks, the launcher), the name other
    containers reach it by (the SLA probes in docker-compose) and any host listed in
    MEDSYS_PORTAL_HOSTS (comma-separated)."""
    names = [urlsplit(public_url).hostname or "", "127.0.0.1", "localhost", service_name]
    names += [name.strip() for name in extra.split(",") if name.strip()]
    return [name for name in dict.fromkeys(names) if name]


def outbox_path(settings: Settings) -> Path:
    """Local mode has no mail server: messages (live reset links among them) go to a file
    only the portal's account can read."""
    return settings.mail_dir / "portal-outbox.log"


def _pesos(amount: int | None) -> str:
    return "$" + f"{amount or 0:,}".replace(",", ".")


def _fecha(iso: str | None) -> str:
    """'15 de marzo de 2026, 10:00' (Santiago) from ISO text in any offset."""
    from datetime import datetime

    if not iso:
        return ""
    return date_text(local_iso(datetime.fromisoformat(iso))) or ""


def create_app(
    settings: Settings | None = None,
    *,
    test_config: Mapping[str, Any] | None = None,
    database: Database | None = None,
    middleware: Middleware | None = None,
) -> Flask:
    """The portal. Tests hand it ``test_config`` (Flask settings laid over ours), a
    ``database`` and a ``middleware`` client; in service it opens its own. The booking
    reconciler is started by ``wsgi.application``, never here."""
    configure_logging()
    settings = settings or load_settings()
    signer = signing_key(settings, Service.PORTAL)
    public_url = portal_url(settings)
    session_secret = f"portal-session:{private_text(signer.private_key)}"
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=hashlib.sha256(session_secret.encode()).hexdigest(),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=os.environ.get("MEDSYS_PORTAL_SECURE_COOKIES") == "1",
        SESSION_COOKIE_NAME="medsys_portal",
        PERMANENT_SESSION_LIFETIME=IDLE_TIMEOUT,
        # The cookie is signed again only when the session changes, at the latest once a
        # minute (views.session.TOUCH_EVERY moves "seen"), so it still lapses after 15
        # idle minutes; re-signing it on every page was 7 % of the portal's CPU.
        SESSION_REFRESH_EACH_REQUEST=False,
        WTF_CSRF_TIME_LIMIT=3600,
        VERIFIER=Verifier(Service.PORTAL, keyring(settings, Service.PORTAL)),
        OUTBOX=str(outbox_path(settings)),
        PUBLIC_URL=public_url,
        # A Host header naming anyone else is refused (400): links the portal writes,
        # such as a password reset's, never point to a stranger's site.
        TRUSTED_HOSTS=trusted_hosts(
            public_url,
            os.environ.get("MEDSYS_PORTAL_HOSTS", ""),
            service_name=settings.host("app3"),
        ),
    )
    app.config.from_mapping(test_config or {})
    extensions.init_app(
        app,
        database=database or pair_database(settings, "portal"),
        middleware=middleware or Middleware(settings.url("middleware"), signer),
    )
    extensions.csrf.init_app(app)
    app.jinja_env.filters["pesos"] = _pesos
    app.jinja_env.filters["fecha"] = _fecha
    from medsys.portal.views import api, auth, pages

    look.install(app)
    app.register_blueprint(auth.blueprint)
    app.register_blueprint(pages.blueprint)
    app.register_blueprint(api.blueprint)
    extensions.csrf.exempt(api.blueprint)  # bearer-token JSON API: no cookies, so no CSRF
    _register_errors(app)

    request_log.install_flask(app, log)
    privacy.install_flask(app)
    request_guard.install_flask(app)
    http_metrics.install_flask(app)

    return app


def _register_errors(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def bad_form(error: CSRFError) -> tuple[str, int]:
        message = "El formulario expiró o fue alterado. Vuelva a intentarlo."
        return render_template("error.html", message=message), 400

    @app.errorhandler(404)
    def missing(error: Any) -> tuple[str, int]:
        return render_template("error.html", message="La página no existe."), 404

    @app.errorhandler(500)
    def broken(error: Any) -> tuple[str, int]:
        message = "Ocurrió un problema inesperado. Intente nuevamente en unos minutos."
        return render_template("error.html", message=message), 500

    @app.errorhandler(405)
    def method(error: Any) -> tuple[str, int]:
        return render_template("error.html", message="Acción no permitida."), 405
