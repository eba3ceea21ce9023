"""Who is logged in, and the 15-minute idle timeout."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from flask import flash, redirect, session, url_for

from medsys.portal.app import IDLE_TIMEOUT

P = ParamSpec("P")
R = TypeVar("R")


def log_in(rut: str, name: str) -> None:
    session.clear()
    session["rut"] = rut
    session["name"] = name
    session["seen"] = time.time()
    session.permanent = True


def current_rut() -> str | None:
    rut = session.get("rut")
    if rut is None:
        return None
    if time.time() - float(session.get("seen", 0)) > IDLE_TIMEOUT.total_seconds():
        session.clear()
        flash("Su sesión expiró por inactividad. Ingrese nuevamente.", "info")
        return None
    session["seen"] = time.time()
    return str(rut)


def login_required(view: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(view)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        if current_rut() is None:
            return redirect(url_for("auth.login"))  # type: ignore[return-value]
        return view(*args, **kwargs)

    return guarded
