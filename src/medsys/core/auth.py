"""Who is calling, for every service: a bearer token's claims and, for a service (the
middleware), the person it acts for (``X-Acting-For``/``X-Acting-Role``) -- the one the
audit log names. Framework-neutral: Flask and FastAPI views both call it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from medsys.core.audit import record_access
from medsys.core.errors import Forbidden, Unauthenticated
from medsys.core.tokens import Claims, InvalidTokenError, Role, bearer_token, verify_token


@dataclass(frozen=True)
class Caller:
    claims: Claims
    acting_for: str | None = None
    acting_role: str | None = None

    @property
    def who(self) -> str:
        return self.acting_for or self.claims.subject

    @property
    def role(self) -> Role:
        return self.claims.role


def authenticate(headers: Mapping[str, str], key: str, allowed: Iterable[Role]) -> Caller:
    try:
        claims = verify_token(key, bearer_token(headers.get("Authorization")))
    except InvalidTokenError:
        raise Unauthenticated("Se requiere un token válido (Authorization: Bearer ...).") from None
    if claims.role not in set(allowed):
        raise Forbidden("Su rol no permite esta acción.")
    acting_for = headers.get("X-Acting-For") if claims.role is Role.SERVICE else None
    acting_for = acting_for.strip()[:64] if acting_for and acting_for.strip() else None
    acting_role = (headers.get("X-Acting-Role") or "")[:16] or None if acting_for else None
    return Caller(claims, acting_for, acting_role)


def audit_access(
    session: Session,
    caller: Caller,
    *,
    action: str,
    resource: str,
    patient_rut: str | None,
    request_id: str | None,
) -> None:
    record_access(
        session,
        actor=caller.who,
        actor_role=caller.acting_role or caller.role.value,
        action=action,
        resource=resource,
        patient_rut=patient_rut,
        via_service=caller.claims.subject if caller.acting_for else None,
        request_id=request_id,
    )
