"""Patient login: lockout first (core.identity's counters), then the password (argon2),
then the second factor, whose failed codes count toward the same lockout."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from medsys.core import identity
from medsys.core.audit import record_access
from medsys.core.db import Database
from medsys.core.passwords import verify_password
from medsys.core.rut import InvalidRutError, normalize_rut
from medsys.portal.models import Account, LoginAttempt, LoginCounter, PortalSession
from medsys.portal.resets import revoke_pending

WRONG = "RUT o contraseña incorrectos."
WRONG_CODE = "Código incorrecto."


@dataclass(frozen=True)
class Verdict:
    """Plain data, so it outlives the transactions that decided it."""

    rut: str | None = None
    name: str = ""
    needs_code: bool = False
    refusal: str | None = None


@dataclass(frozen=True)
class _Found:
    id: int
    rut: str
    name: str
    password_hash: str
    totp_secret: str | None
    totp_last_step: int | None


def _find(session: Session, rut: str) -> _Found | None:
    row = session.scalar(select(Account).where(Account.rut == rut))
    if row is None:
        return None
    secret = row.totp_secret if row.totp_enabled else None
    return _Found(row.id, row.rut, row.name, row.password_hash, secret, row.totp_last_step)


def _canonical(rut_text: str) -> str:
    try:
        return normalize_rut(rut_text)
    except InvalidRutError:
        return rut_text.strip()[:20]


def _finish(
    database: Database,
    gate: identity.Gate,
    rut: str,
    address: str,
    *,
    succeeded: bool,
    counted: bool = True,
) -> None:
    def settle(session: Session) -> None:
        identity.settle(session, LoginCounter, gate, succeeded=succeeded, counted=counted)
        if counted:
            session.add(LoginAttempt(rut=rut, address=address, succeeded=succeeded))
        if not succeeded and identity.locked(session, LoginCounter, gate.account_key):
            revoke_pending(session, rut=rut)  # a locked account keeps no way in by mail

    database.write(settle)


def _admit(database: Database, gate: identity.Gate, rut: str) -> str | None:
    def admit(session: Session) -> str | None:
        refusal = identity.admit(session, LoginCounter, gate)
        if refusal:
            revoke_pending(session, rut=rut)
        return refusal

    return database.write(admit)


def check_login(database: Database, *, rut_text: str, password: str, address: str) -> Verdict:
    rut = _canonical(rut_text)
    gate = identity.Gate.for_login(rut, address)
    refusal = _admit(database, gate, rut)
    if refusal:
        return Verdict(refusal=refusal)
    account = database.read(lambda s: _find(s, rut))
    good = verify_password(account.password_hash if account else None, password)
    if good and account is not None:
        identity.upgrade_hash(database, Account, account.id, account.password_hash, password)
    if good and account is not None and account.totp_secret:
        # Not judged yet: the code decides, and a wrong code counts.
        _finish(database, gate, rut, address, succeeded=False, counted=False)
        return Verdict(rut=account.rut, name=account.name, needs_code=True)
    _finish(database, gate, rut, address, succeeded=good and account is not None)
    if not good or account is None:
        return Verdict(refusal=WRONG)
    return Verdict(rut=account.rut, name=account.name)


def check_code(database: Database, *, rut: str, code: str, address: str) -> Verdict:
    """The second step, for a patient whose password was right a moment ago."""
    gate = identity.Gate.for_login(rut, address)
    refusal = _admit(database, gate, rut)
    if refusal:
        return Verdict(refusal=refusal)
    account = database.read(lambda s: _find(s, rut))
    good = account is not None and (
        account.totp_secret is None
        or database.write(
            lambda s: identity.use_code(
                s,
                Account,
                account_id=account.id,
                secret=account.totp_secret or "",
                last_used=account.totp_last_step,
                code=code,
            )
        )
    )
    _finish(database, gate, rut, address, succeeded=good)
    if not good or account is None:
        return Verdict(refusal=WRONG_CODE)
    return Verdict(rut=account.rut, name=account.name)


def remove_second_factor(
    database: Database,
    *,
    rut: str,
    by: str,
    by_role: str | None = None,
    via: str | None = None,
) -> int | None:
    """A patient who lost the phone, once reception has seen an ID: the second factor is
    gone and every session of the account ends (they log in with the password and may
    enrol again); the change is on the portal's audit log, in the name of ``by`` (the
    operator at this machine, or a clerk through the front office: ``via``). None: no
    such account."""

    def apply(session: Session) -> int | None:
        account = session.scalar(select(Account).where(Account.rut == rut))
        if account is None:
            return None
        identity.forget_second_factor(account)
        record_access(
            session,
            actor=by,
            actor_role=by_role or by,
            action="reset-second-factor",
            resource=f"cuenta:{rut}",
            patient_rut=rut,
            via_service=via,
        )
        return identity.revoke_all(session, PortalSession, rut)

    return database.write(apply)
