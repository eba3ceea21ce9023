"""Who is logged in. The signed cookie carries only a session's secret; the session itself
is a row in the portal's database (core.identity), so logout, a password reset or a
failover all end or keep it for every portal process alike. 15 idle minutes end it."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from flask import flash, g, redirect, render_template, request, session, url_for
from sqlalchemy.orm import Session

from medsys.core import identity
from medsys.core.clock import utc_now
from medsys.core.request_guard import MARK
from medsys.portal.extensions import IDLE_TIMEOUT, database
from medsys.portal.models import PortalSession

P = ParamSpec("P")
R = TypeVar("R")
TOUCH_EVERY = 60  # seconds: the idle clock moves at most once a minute (one write)


def log_in(rut: str, name: str) -> None:
    secret, _ = database().write(lambda s: identity.open_session(s, PortalSession, rut))
    session.clear()
    session["sid"] = secret
    session["rut"] = rut
    session["name"] = name
    session["seen"] = time.time()
    session.permanent = True


def log_out() -> None:
    secret = session.get("sid")
    if secret:
        identifier = identity.session_id_of(str(secret))
        database().write(lambda s: identity.revoke_session(s, PortalSession, identifier))
    session.clear()


def _open(secret: str, rut: str) -> bool:
    identifier = identity.session_id_of(secret)
    return database().read(
        lambda s: identity.session_is_open(s, PortalSession, identifier, rut, idle=IDLE_TIMEOUT)
    )


def _touch(secret: str) -> None:
    identifier = identity.session_id_of(secret)

    def touch(s: Session) -> None:
        row = s.get(PortalSession, identifier)
        if row is not None:
            row.last_seen_at = utc_now()

    database().write(touch)


def current_rut() -> str | None:
    if "checked_rut" in g:
        return g.checked_rut  # type: ignore[no-any-return]
    rut, secret = session.get("rut"), session.get("sid")
    g.checked_rut = None
    if rut is None:
        return None
    if secret is None or not _open(str(secret), str(rut)):
        session.clear()
        flash("Su sesión terminó. Ingrese nuevamente.", "info")
        return None
    if time.time() - float(session.get("seen", 0)) > TOUCH_EVERY:
        _touch(str(secret))
        session["seen"] = time.time()
    g.checked_rut = str(rut)
    return g.checked_rut  # type: ignore[no-any-return]


def login_required(view: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(view)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        if current_rut() is None:
            return redirect(url_for("auth.login"))  # type: ignore[return-value]
        if request.headers.get(MARK):
            message = "El formulario trae un carácter no permitido; no se guardó nada."
            return render_template("error.html", message=message), 422  # type: ignore[return-value]
        return view(*args, **kwargs)

    return guarded
