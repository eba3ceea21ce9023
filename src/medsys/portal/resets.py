"""Password resets: a link with a random token, of which only the SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from medsys.core import identity
from medsys.core.clock import utc_now
from medsys.core.passwords import hash_password, verify_password
from medsys.portal.models import Account, LoginAttempt, LoginCounter, PortalSession, ResetToken

LIFETIME = timedelta(minutes=30)
MIN_PASSWORD = 10


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _has_account(session: Session, rut: str) -> bool:
    return session.scalar(select(Account.id).where(Account.rut == rut)) is not None


def issue(session: Session, *, rut: str, new_account: bool = False) -> str | None:
    """A fresh token for an existing account (None when there is no such account); with
    ``new_account``, for a patient the clinic registered who has no account yet (the
    link then creates it; None when one exists)."""
    if _has_account(session, rut) == new_account:
        return None
    token = secrets.token_urlsafe(32)
    session.add(ResetToken(rut=rut, token_hash=_digest(token), expires_at=utc_now() + LIFETIME))
    return token


def revoke_pending(session: Session, *, rut: str) -> None:
    session.execute(
        update(ResetToken)
        .where(ResetToken.rut == rut, ResetToken.used_at.is_(None), ResetToken.revoked_at.is_(None))
        .values(revoked_at=utc_now())
    )


def valid(session: Session, *, token: str) -> ResetToken | None:
    found = session.scalar(select(ResetToken).where(ResetToken.token_hash == _digest(token)))
    if found is None or found.used_at or found.revoked_at or found.expires_at <= utc_now():
        return None
    return found


def _too_short(password: str) -> str | None:
    if len(password) < MIN_PASSWORD:
        return f"La contraseña debe tener al menos {MIN_PASSWORD} caracteres."
    return None


def _replace_password(session: Session, account: Account, password: str) -> None:
    """The new password; every session and pending link of the old one ends."""
    account.password_hash = hash_password(password)
    identity.revoke_all(session, PortalSession, account.rut)
    revoke_pending(session, rut=account.rut)


def pending_for(session: Session, *, token: str) -> tuple[str, bool] | None:
    """A valid link's patient and whether they already have an account (None: no valid
    link)."""
    found = valid(session, token=token)
    if found is None:
        return None
    return found.rut, _has_account(session, found.rut)


def use(session: Session, *, token: str, password: str, name: str | None = None) -> str | None:
    """Set the new password, creating the account (named ``name``, as the clinic's
    registry has it) when the link was for a new one; the problem in Spanish, or None
    when done."""
    if problem := _too_short(password):
        return problem
    found = valid(session, token=token)
    if found is None:
        return "El enlace no es válido, ya se usó o expiró. Pida uno nuevo."
    account = session.scalar(select(Account).where(Account.rut == found.rut))
    if account is None:
        if not name:
            return "El enlace no es válido."
        account = Account(rut=found.rut, name=name[:120], password_hash="")
        session.add(account)
    found.used_at = utc_now()
    _replace_password(session, account, password)
    # Proving the mailbox is a successful authentication: the account's lockout ends.
    identity.clear(session, LoginCounter, identity.Gate.for_login(found.rut, "").account_key)
    session.add(LoginAttempt(rut=found.rut, address="password-reset", succeeded=True))
    return None


def change(session: Session, *, rut: str, current: str, password: str) -> str | None:
    """A logged-in patient's new password; the problem in Spanish, or None when done
    (every session of the account is ended: the caller opens a new one)."""
    account = session.scalar(select(Account).where(Account.rut == rut))
    if account is None or not verify_password(account.password_hash, current):
        return "La contraseña actual no es correcta."
    if problem := _too_short(password):
        return problem
    _replace_password(session, account, password)
    return None
