"""Who is calling, for every service: a verified token's claims, and the person behind
them. A relayed call (the middleware's service token) names that person in its signed
``act`` claim; nothing a header says changes who the caller is. Framework-neutral: Flask
and FastAPI views both call it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from medsys.core.audit import record_access, record_accesses
from medsys.core.db import Database
from medsys.core.errors import Forbidden, Unauthenticated
from medsys.core.request_guard import refuse_if_marked
from medsys.core.tokens import (
    Claims,
    InvalidTokenError,
    Keyring,
    Role,
    Scope,
    Service,
    VerifiedTokens,
    bearer_token,
)

log = logging.getLogger("medsys.auth")
# Whether the session a token belongs to is still open (None: the token has no session).
SessionCheck = Callable[[Claims], bool]
UNAUTHENTICATED = "Se requiere un token válido (Authorization: Bearer ...)."


@dataclass(frozen=True)
class Caller:
    claims: Claims

    @property
    def who(self) -> str:
        """The person: a staff member's username or a patient's RUT."""
        return self.claims.who

    @property
    def role(self) -> Role:
        """The person's role, also when a service relays their call."""
        return self.claims.acting_role

    @property
    def patient(self) -> str | None:
        """The one patient whose records this caller may reach, if it speaks for one."""
        return self.claims.patient

    @property
    def via(self) -> str | None:
        return self.claims.chain

    def may_reach(self, rut: str) -> bool:
        return self.patient is None or self.patient == rut

    def in_person(self) -> str:
        """The staff member calling themself: a relayed call cannot change an account."""
        if self.claims.acting_for is not None:
            raise Forbidden("Esta acción la hace la persona misma, no un servicio.")
        return self.who


class Verifier:
    """What one service needs to check a token: who it is and whose keys it trusts."""

    def __init__(self, audience: Service, keyring: Keyring) -> None:
        self.audience = audience
        self.keyring = keyring
        self._verified = VerifiedTokens(keyring, audience)

    def claims(self, headers: Mapping[str, str]) -> Claims:
        return self._verified.claims(bearer_token(headers.get("Authorization")))


SESSION_ENDED = "La sesión terminó; ingrese nuevamente."


NARROWED = "Este token sirve solo para otra gestión."


def caller_of(
    headers: Mapping[str, str],
    verifier: Verifier,
    allowed: Iterable[Role],
    *,
    errand: Scope | None = None,
) -> Caller:
    """The caller, if its token is good and the person's role among ``allowed`` (a relayed
    call is judged by the role of the person it acts for). Its session is not checked.

    A token narrowed to an errand (``tokens.Scope``) is good only where ``errand`` names
    that errand, and there only such a token is: every other route refuses it without
    having to know it exists."""
    try:
        claims = verifier.claims(headers)
    except InvalidTokenError:
        raise Unauthenticated(UNAUTHENTICATED) from None
    caller = Caller(claims)
    if claims.scope is not errand:
        raise Forbidden(NARROWED if claims.scope is not None else "Su rol no permite esta acción.")
    if caller.role not in set(allowed):
        raise Forbidden("Su rol no permite esta acción.")
    refuse_if_marked(headers)  # only now: the unauthenticated hear 401 whatever they sent
    return caller


def authenticate(
    headers: Mapping[str, str],
    verifier: Verifier,
    allowed: Iterable[Role],
    *,
    session_open: SessionCheck | None = None,
    errand: Scope | None = None,
) -> Caller:
    """``caller_of``, and the token's session (if it belongs to one) still open."""
    caller = caller_of(headers, verifier, allowed, errand=errand)
    if caller.claims.session_id is not None and (
        session_open is None or not session_open(caller.claims)
    ):
        raise Unauthenticated(SESSION_ENDED)
    return caller


def confine(caller: Caller, rut: str) -> None:
    """Refuse a caller that speaks for another patient."""
    if not caller.may_reach(rut):
        raise Forbidden("Solo puede acceder a los datos del paciente en cuyo nombre actúa.")


def audit_refusal(
    database: Database,
    headers: Mapping[str, str],
    verifier: Verifier,
    *,
    patient_rut: str,
    status: int,
    resource: str,
    request_id: str | None,
) -> None:
    """One audit row for a refused request about a patient, in its own transaction (the
    refused work wrote nothing). A token that did not verify names nobody; the refusal
    stands even when the row cannot be written."""
    try:
        claims = verifier.claims(headers)
        actor, role, via = claims.who, claims.audited_role.value, claims.chain
    except InvalidTokenError:
        actor, role, via = "desconocido", "ninguno", None
    try:
        database.write(
            lambda s: record_access(
                s,
                actor=actor[:64],
                actor_role=role[:16],
                action=f"refused-{status}",
                resource=resource[:64],
                patient_rut=patient_rut,
                via_service=via,
                request_id=request_id,
            )
        )
    except Exception:  # a database that cannot take the row must not turn 403 into 500
        log.exception("could not audit a refused access to %s", patient_rut)


def audit_access(
    session: Session,
    caller: Caller,
    *,
    action: str,
    resource: str,
    patient_rut: str | None,
    request_id: str | None,
) -> None:
    audit_accesses(
        session,
        caller,
        action=action,
        resource=resource,
        patient_ruts=[patient_rut],
        request_id=request_id,
    )


def audit_accesses(
    session: Session,
    caller: Caller,
    *,
    action: str,
    resource: str,
    patient_ruts: Sequence[str | None],
    request_id: str | None,
) -> None:
    """One row per patient the caller was shown (a search's list), in one statement."""
    record_accesses(
        session,
        actor=caller.who,
        actor_role=caller.claims.audited_role.value,
        action=action,
        resource=resource,
        patient_ruts=patient_ruts,
        via_service=caller.via,
        request_id=request_id,
    )
