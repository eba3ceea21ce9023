"""Patient login: lockout first, then the password (argon2), then the second factor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pyotp
from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from medsys.core.clock import utc_now
from medsys.core.passwords import verify_password
from medsys.core.rut import InvalidRutError, normalize_rut
from medsys.portal.lockout import WINDOW_SECONDS, Attempts, locked_out
from medsys.portal.models import Account, LoginAttempt
from medsys.portal.resets import revoke_pending

WRONG = "RUT o contraseña incorrectos."


@dataclass(frozen=True)
class Verdict:
    """Plain data, so it outlives the transaction that recorded the attempt."""

    rut: str | None = None
    name: str = ""
    needs_code: bool = False
    refusal: str | None = None


def _failures(session: Session, column: InstrumentedAttribute[str], value: str) -> int:
    """Failures in the window, after the last success (a login, or a completed reset).
    "After" is by id: MariaDB's DATETIME keeps whole seconds, ids keep the order."""
    since = utc_now() - timedelta(seconds=WINDOW_SECONDS)
    last_success = session.scalar(
        select(func.max(LoginAttempt.id)).where(column == value, LoginAttempt.succeeded.is_(True))
    )
    query = (
        select(func.count())
        .select_from(LoginAttempt)
        .where(
            column == value,
            LoginAttempt.succeeded.is_(False),
            LoginAttempt.at >= since,
            LoginAttempt.id > (last_success or 0),
        )
    )
    return int(session.scalar(query) or 0)


def check_login(session: Session, *, rut_text: str, password: str, address: str) -> Verdict:
    """Decide, and record the attempt in the same transaction (never raise here: a raise
    would roll the record of a failed attempt back, and lockout would count nothing)."""
    try:
        rut = normalize_rut(rut_text)
    except InvalidRutError:
        rut = rut_text.strip()[:20]
    attempts = Attempts(
        account_failures=_failures(session, LoginAttempt.rut, rut),
        address_failures=_failures(session, LoginAttempt.address, address),
    )
    reason = locked_out(attempts)
    if reason:
        session.add(LoginAttempt(rut=rut, address=address, succeeded=False))
        revoke_pending(session, rut=rut)  # a locked account keeps no way in by mail either
        return Verdict(refusal=reason)
    account = session.scalar(select(Account).where(Account.rut == rut))
    good = verify_password(account.password_hash if account else None, password)
    session.add(LoginAttempt(rut=rut, address=address, succeeded=good))
    if not good or account is None:
        if locked_out(Attempts(attempts.account_failures + 1, attempts.address_failures + 1)):
            revoke_pending(session, rut=rut)
        return Verdict(refusal=WRONG)
    return Verdict(rut=account.rut, name=account.name, needs_code=account.totp_enabled)


def totp_ok(account: Account, code: str) -> bool:
    if not account.totp_enabled or not account.totp_secret:
        return True
    return pyotp.TOTP(account.totp_secret).verify(code.strip(), valid_window=1)
