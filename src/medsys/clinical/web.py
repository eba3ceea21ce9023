"""Request plumbing shared by the clinical views: who is calling, may they, what they sent.

Every view states its roles with ``@requires(...)``; the token is checked before the view
runs. A service (the middleware) may say for whom it acts (``X-Acting-For``), and that
person is who the audit log names.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from flask import current_app, g, request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from medsys.core.auth import Caller, audit_access, authenticate
from medsys.core.errors import Forbidden, InvalidInput
from medsys.core.rut import InvalidRutError, normalize_rut
from medsys.core.tokens import Role
from medsys.core.validation import validate

P = ParamSpec("P")
R = TypeVar("R")
M = TypeVar("M", bound=BaseModel)


def current_caller() -> Caller:
    caller: Caller = g.caller
    return caller


def request_id() -> str:
    if "request_id" not in g:
        g.request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex
    return str(g.request_id)


def requires(*roles: Role) -> Callable[[Callable[P, R]], Callable[P, R]]:
    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(view)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            g.caller = authenticate(dict(request.headers), current_app.config["TOKEN_KEY"], roles)
            return view(*args, **kwargs)

        return guarded

    return decorate


def body(model: type[M]) -> M:
    return validate(model, request.get_json(silent=True))


def rut_param(text: str) -> str:
    try:
        return normalize_rut(text)
    except InvalidRutError as error:
        raise InvalidInput(str(error)) from None


def int_arg(name: str, default: int, *, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"'{name}' debe ser un número entero.") from None
    if not low <= value <= high:
        raise InvalidInput(f"'{name}' debe estar entre {low} y {high}.")
    return value


def may_read_patient(rut: str) -> None:
    caller = current_caller()
    if caller.role is Role.PATIENT and caller.claims.subject != rut:
        raise Forbidden("Un paciente solo puede ver su propio historial.")


def audit(session: Session, *, action: str, resource: str, patient_rut: str | None) -> None:
    audit_access(
        session,
        current_caller(),
        action=action,
        resource=resource,
        patient_rut=patient_rut,
        request_id=request_id(),
    )
