"""Who is working: a staff login kept in a signed cookie that holds the staff session's
secret and a 15-minute access token. The session itself is a row in clinical's database
(``core.identity``), so logout, a password change or a deactivation end it on both
instances at once, and it survives an instance restart or a database failover. Each page
checks the token and its session exactly as the JSON API does (``core.auth``), renewing
the token from the session when it has expired."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from flask import flash, g, redirect, render_template, request, session, url_for

from medsys.clinical.extensions import staff_directory
from medsys.clinical.web import verifier
from medsys.core.auth import Caller, authenticate
from medsys.core.errors import Forbidden, Unauthenticated
from medsys.core.tokens import Role

P = ParamSpec("P")
R = TypeVar("R")
STAFF = (Role.DOCTOR, Role.NURSE)
ROLE_NAMES = {Role.DOCTOR: "Médico(a)", Role.NURSE: "Enfermería"}


_SIGNED_IN = ("token", "sid", "name", "role", "administrator")  # what log_in keeps


def log_in(grant: dict[str, object]) -> None:
    session.clear()
    session["token"] = grant["token"]
    session["sid"] = grant["session"]
    session["name"] = grant["name"]
    session["role"] = grant["role"]
    session["administrator"] = bool(grant.get("administrator"))  # the menu's "Usuarios"
    session.permanent = True


def signed_out() -> None:
    """Forget the login (its session already ended) but keep the page's notices."""
    for key in _SIGNED_IN:
        session.pop(key, None)


def _caller(allowed: tuple[Role, ...]) -> Caller:
    def check() -> Caller:
        headers = {"Authorization": f"Bearer {session.get('token', '')}"}
        return authenticate(
            headers, verifier(), allowed, session_open=staff_directory().session_open
        )

    try:
        return check()
    except Forbidden:
        raise
    except Unauthenticated:
        # An expired access token is renewed from the session, if it is still open.
        secret = session.get("sid")
        if not secret:
            raise
        session["token"] = staff_directory().refresh(str(secret))["token"]
        return check()


def staff_page(*roles: Role) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """The page needs a logged-in person with one of ``roles``: else the login page (no
    session) or a refusal page (wrong role), and the refusal is real, not only hidden."""
    allowed = roles or STAFF

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(view)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            if "sid" not in session:
                return redirect(url_for("workspace.login", next=request.path))  # type: ignore[return-value]
            try:
                g.caller = _caller(allowed)
            except Forbidden:
                message = "Su rol no permite esta acción."
                return render_template("denied.html", message=message), 403  # type: ignore[return-value]
            except Unauthenticated:
                session.clear()
                flash("Su sesión terminó. Ingrese nuevamente.", "info")
                return redirect(url_for("workspace.login", next=request.path))  # type: ignore[return-value]
            return view(*args, **kwargs)

        return guarded

    return decorate


def caller() -> Caller:
    found: Caller = g.caller
    return found


def is_doctor() -> bool:
    return "caller" in g and caller().role is Role.DOCTOR
