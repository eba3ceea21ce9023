"""Request plumbing shared by the clinical views: who is calling, may they, what they sent.

Every view states the roles of the people it serves with ``@requires(...)``; the token is
checked (and its session, for a staff login) before the view runs. The middleware's
relayed calls are judged by the person its signed token acts for; a token that speaks for
a patient reaches that patient's records only. Every refused access to a patient's
records leaves an audit row.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import ParamSpec, TypeVar

from flask import current_app, g, request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from medsys.clinical.extensions import database, staff_directory
from medsys.core.auth import (
    Caller,
    Verifier,
    audit_accesses,
    audit_refusal,
    authenticate,
    confine,
)
from medsys.core.errors import Forbidden, InvalidInput, MedsysError
from medsys.core.request_parts import request_id_of
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
        g.request_id = request_id_of(request.headers.get("X-Request-ID"))
    return str(g.request_id)


def verifier() -> Verifier:
    found: Verifier = current_app.config["VERIFIER"]
    return found


def requires(*roles: Role) -> Callable[[Callable[P, R]], Callable[P, R]]:
    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(view)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                g.caller = authenticate(
                    dict(request.headers),
                    verifier(),
                    roles,
                    session_open=staff_directory().session_open,
                )
            except MedsysError as refusal:
                _audit_refusal(kwargs.get("rut"), refusal)
                raise
            return view(*args, **kwargs)

        # Read by clinical.openapi: the document says who may call each route.
        setattr(guarded, "medsys_roles", tuple(role.value for role in roles))  # noqa: B010
        return guarded

    return decorate


def _audit_refusal(rut_text: object, refusal: MedsysError) -> None:
    """One audit row for a refused request about a patient (named in the path)."""
    try:
        rut = normalize_rut(str(rut_text)) if rut_text else None
    except InvalidRutError:
        rut = None
    if rut is not None:
        audit_refusal(
            database(),
            dict(request.headers),
            verifier(),
            patient_rut=rut,
            status=refusal.status,
            resource=request.path,
            request_id=request_id(),
        )


def body(model: type[M]) -> M:
    return validate(model, request.get_json(silent=True))


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


def may_reach_patient(rut: str) -> None:
    """Refuse (and audit) a caller confined to another patient."""
    try:
        confine(current_caller(), rut)
    except Forbidden as refusal:
        _audit_refusal(rut, refusal)
        raise


def audit(session: Session, *, action: str, resource: str, patient_rut: str | None) -> None:
    audit_each(session, action=action, resource=resource, patient_ruts=[patient_rut])


def audit_each(
    session: Session, *, action: str, resource: str, patient_ruts: Sequence[str | None]
) -> None:
    """One audit row per patient (or per record) a list showed, in one statement."""
    audit_accesses(
        session,
        current_caller(),
        action=action,
        resource=resource,
        patient_ruts=patient_ruts,
        request_id=request_id(),
    )
