"""Staff accounts of one app (clinical: doctors and nurses; admin: clerks and accountants):
login with lockout and an optional second factor, sessions that can end, password
changes, and the administration of accounts. Clinical's Flask views, admin's FastAPI
routes and ``medsys user`` all call this one class; it returns plain data."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from medsys.core import identity, totp
from medsys.core.audit import record_access
from medsys.core.clock import local_iso, utc_now
from medsys.core.db import Database
from medsys.core.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    MedsysError,
    NotFound,
    Unauthenticated,
)
from medsys.core.passwords import hash_password, verify_password
from medsys.core.tokens import Claims, Role, SigningKey

ACCESS_LIFETIME = timedelta(minutes=15)
MINIMUM_PASSWORD = 12


OPERATOR = "operador"  # who changed an account from this machine's `medsys user` commands
WRONG = "Usuario o contraseña incorrectos."
CREDENTIALS_UPDATED = "Contraseña actualizada; ingrese nuevamente."
SECOND_FACTOR_ON = "Segundo factor activado."
USERNAME_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-")


class Locked(MedsysError):
    """Too many failed logins for the account or the address: 429, in Spanish."""

    status = 429
    code = "locked"


class SecondFactorRequired(Unauthenticated):
    code = "second_factor_required"


@dataclass(frozen=True)
class StaffModels:
    account: Any  # a model with identity.StaffAccountColumns
    session: Any  # identity.SessionColumns
    counter: Any  # identity.LoginCounterColumns


@dataclass(frozen=True)
class Snapshot:
    """An account as plain data, outliving the transaction that read it."""

    id: int
    username: str
    full_name: str
    role: Role
    password_hash: str
    active: bool
    is_administrator: bool
    totp_secret: str | None
    totp_enabled: bool
    totp_last_step: int | None


def new_password() -> str:
    """A random password for a new or reset account (shown once, to be changed)."""
    return secrets.token_urlsafe(12)


def check_password_rules(password: str) -> None:
    if len(password) < MINIMUM_PASSWORD or len(password) > 200:
        raise InvalidInput(f"La contraseña debe tener entre {MINIMUM_PASSWORD} y 200 caracteres.")


def check_username(username: str) -> str:
    username = username.strip().lower()
    if not 3 <= len(username) <= 64 or not set(username) <= USERNAME_CHARACTERS:
        raise InvalidInput(
            "El usuario debe tener 3 a 64 caracteres: letras minúsculas, dígitos, '.', '_' o '-'."
        )
    return username


def _check_current_password(row: Any, password: str) -> None:
    """Forbidden unless the account ``row`` exists and ``password`` is its own."""
    if row is None or not verify_password(row.password_hash, password):
        raise Forbidden("La contraseña actual no es correcta.")


class StaffDirectory:
    def __init__(
        self,
        database: Database,
        models: StaffModels,
        signer: SigningKey,
        *,
        roles: frozenset[Role],
    ) -> None:
        self.database = database
        self.models = models
        self.signer = signer
        self.roles = roles

    # --- reading -------------------------------------------------------------------

    def _find(self, session: Session, username: str) -> Any:
        account = self.models.account
        return session.scalar(select(account).where(account.username == username))

    def _existing(self, session: Session, username: str) -> Any:
        row = self._find(session, username)
        if row is None:
            raise NotFound(f"No existe el usuario {username}.")
        return row

    def _note(self, session: Session, *, by: str | None, action: str, username: str) -> None:
        """An account change goes on the service's audit log in the same transaction: who
        (an administrator, the person themself, or the operator's command) did what to
        whose account."""
        actor = self._find(session, by) if by else None
        record_access(
            session,
            actor=by or OPERATOR,
            actor_role=actor.role if actor is not None else OPERATOR,
            action=action,
            resource=f"cuenta:{username}"[:64],
        )

    def _snapshot(self, username: str) -> Snapshot | None:
        def read(session: Session) -> Snapshot | None:
            row = self._find(session, username)
            if row is None:
                return None
            return Snapshot(
                id=row.id,
                username=row.username,
                full_name=row.full_name,
                role=Role(row.role),
                password_hash=row.password_hash,
                active=row.active,
                is_administrator=row.is_administrator,
                totp_secret=row.totp_secret,
                totp_enabled=row.totp_enabled,
                totp_last_step=row.totp_last_step,
            )

        return self.database.read(read)

    # --- login and sessions ----------------------------------------------------------

    def login(self, username: str, password: str, code: str | None, address: str) -> dict[str, Any]:
        """A session and a 15-minute access token, or a refusal (lockout, wrong password,
        second factor missing or wrong). Every attempt counts before it is checked."""
        username = username.strip().lower()[:64]
        gate = identity.Gate.for_login(username, address)
        counter = self.models.counter
        refusal = self.database.write(lambda s: identity.admit(s, counter, gate))
        if refusal:
            raise Locked(refusal)
        account = self._snapshot(username)
        usable = account is not None and account.active and account.role in self.roles
        good = verify_password(account.password_hash if usable and account else None, password)
        if good and account is not None:
            identity.upgrade_hash(
                self.database, self.models.account, account.id, account.password_hash, password
            )
        if good and account is not None and account.totp_enabled and not code:
            self.database.write(
                lambda s: identity.settle(s, counter, gate, succeeded=False, counted=False)
            )
            raise SecondFactorRequired("Ingrese el código de su aplicación de autenticación.")
        if good and account is not None and account.totp_enabled and account.totp_secret:
            good = self.database.write(
                lambda s: identity.use_code(
                    s,
                    self.models.account,
                    account_id=account.id,
                    secret=account.totp_secret or "",
                    last_used=account.totp_last_step,
                    code=code or "",
                )
            )
        succeeded = good and account is not None

        def finish(session: Session) -> tuple[str, str] | None:
            identity.settle(session, counter, gate, succeeded=succeeded, counted=True)
            if not succeeded:
                return None
            return identity.open_session(session, self.models.session, username)

        opened = self.database.write(finish)
        if opened is None or account is None:
            raise Unauthenticated(WRONG)
        secret, session_id = opened
        return self._grant(account, secret, session_id)

    def _grant(self, account: Snapshot, secret: str, session_id: str) -> dict[str, Any]:
        token = self.signer.issue(
            account.role,
            account.username,
            audience=self.signer.issuer,
            lifetime=ACCESS_LIFETIME,
            session_id=session_id,
        )
        return {
            "token": token,
            "expires_in": int(ACCESS_LIFETIME.total_seconds()),
            "session": secret,
            "username": account.username,
            "role": account.role.value,
            "name": account.full_name,
            "administrator": account.is_administrator,
        }

    def refresh(self, secret: str) -> dict[str, Any]:
        """A new access token for an open session (and the session kept alive)."""
        session_id = identity.session_id_of(secret)

        def touch(session: Session) -> str | None:
            row = identity.live_session(session, self.models.session, session_id)
            if row is None:
                return None
            row.last_seen_at = utc_now()
            return str(row.account)

        username = self.database.write(touch)
        account = self._snapshot(username) if username else None
        if account is None or not account.active:
            raise Unauthenticated("La sesión terminó; ingrese nuevamente.")
        return self._grant(account, secret, session_id)

    def session_open(self, claims: Claims) -> bool:
        """For ``core.auth.authenticate``: the token's session is still open (one primary-key
        read per request, so a revoked session is refused by the very next request)."""
        if claims.issuer is not self.signer.issuer or claims.session_id is None:
            return False
        session_id = claims.session_id
        model = self.models.session
        account = claims.subject
        return self.database.read(lambda s: identity.session_is_open(s, model, session_id, account))

    def logout(self, claims: Claims, *, everywhere: bool = False) -> int:
        model = self.models.session
        if everywhere:
            return self.database.write(lambda s: identity.revoke_all(s, model, claims.subject))
        if claims.session_id is None:
            return 0
        session_id = claims.session_id
        self.database.write(lambda s: identity.revoke_session(s, model, session_id))
        return 1

    # --- one's own account -----------------------------------------------------------

    def change_password(self, username: str, current: str, new: str) -> int:
        """Set a new password; every session of the account ends (log in again)."""
        return self.database.write(
            lambda session: self.change_password_in(session, username, current, new)
        )

    def change_password_in(self, session: Session, username: str, current: str, new: str) -> int:
        """The same change inside the caller's transaction: a web form's, whose idempotency
        key must commit with it."""
        check_password_rules(new)
        row = self._find(session, username)
        _check_current_password(row, current)
        row.password_hash = hash_password(new)
        self._note(session, by=username, action="change-password", username=username)
        return identity.revoke_all(session, self.models.session, username)

    def second_factor_on(self, username: str) -> bool:
        account = self._snapshot(username)
        return bool(account and account.totp_enabled)

    def begin_second_factor(self, username: str, password: str) -> dict[str, str]:
        """A new secret to enrol, pending until confirmed; needs the current password, so
        a stolen session cannot move the second factor to the thief's phone."""
        secret = totp.new_secret()

        def begin(session: Session) -> None:
            row = self._find(session, username)
            _check_current_password(row, password)
            row.totp_pending = secret

        self.database.write(begin)
        return {"secret": secret, "uri": totp.provisioning_uri(secret, account=username)}

    def confirm_second_factor(self, username: str, code: str) -> None:
        self.database.write(lambda session: self.confirm_second_factor_in(session, username, code))

    def confirm_second_factor_in(self, session: Session, username: str, code: str) -> None:
        """The pending secret becomes the account's second factor when ``code`` is its
        current code (inside the caller's transaction, as ``change_password_in``)."""
        row = self._find(session, username)
        step = None
        if row is not None and row.totp_pending:
            step = totp.matching_step(row.totp_pending, code, now=utc_now(), last_used=None)
        if step is None:
            raise InvalidInput("El código no coincide o no hay una inscripción pendiente.")
        row.totp_secret, row.totp_pending = row.totp_pending, None
        row.totp_enabled, row.totp_last_step = True, step
        self._note(session, by=username, action="enable-second-factor", username=username)

    # --- administration --------------------------------------------------------------

    def require_administrator(self, username: str) -> str:
        """``username``, if it is an active account administrator; else 403."""
        account = self._snapshot(username)
        if account is None or not account.active or not account.is_administrator:
            raise Forbidden("Solo un administrador de cuentas puede hacer esto.")
        return username

    def accounts(self) -> list[dict[str, Any]]:
        model = self.models.account

        def read(session: Session) -> list[dict[str, Any]]:
            rows = session.scalars(select(model).order_by(model.username))
            return [
                {
                    "username": row.username,
                    "name": row.full_name,
                    "role": row.role,
                    "active": row.active,
                    "administrator": row.is_administrator,
                    "second_factor": row.totp_enabled,
                    "created_at": local_iso(row.created_at),
                }
                for row in rows
            ]

        return self.database.read(read)

    def add(
        self,
        *,
        username: str,
        full_name: str,
        role: Role,
        administrator: bool = False,
        password: str | None = None,
        by: str | None = None,
        **extra: Any,
    ) -> str:
        """Create an account; its first password (random unless given), shown once."""
        return self.database.write(
            lambda session: self.add_in(
                session,
                username=username,
                full_name=full_name,
                role=role,
                administrator=administrator,
                password=password,
                by=by,
                **extra,
            )
        )

    def add_in(
        self,
        session: Session,
        *,
        username: str,
        full_name: str,
        role: Role,
        administrator: bool = False,
        password: str | None = None,
        by: str | None = None,
        **extra: Any,
    ) -> str:
        """``add`` inside the caller's transaction (a web form's, with its key)."""
        username = check_username(username)
        if role not in self.roles:
            names = ", ".join(sorted(r.value for r in self.roles))
            raise InvalidInput(f"Aquí solo se crean cuentas con rol: {names}.")
        if not full_name.strip() or len(full_name) > 120:
            raise InvalidInput("El nombre es obligatorio (hasta 120 caracteres).")
        password = password or new_password()
        check_password_rules(password)
        if self._find(session, username) is not None:
            raise Conflict(f"El usuario {username} ya existe.")
        session.add(
            self.models.account(
                username=username,
                full_name=full_name.strip(),
                role=role.value,
                password_hash=hash_password(password),
                active=True,
                is_administrator=administrator,
                **extra,
            )
        )
        self._note(session, by=by, action="create", username=username)
        return password

    def deactivate(self, username: str, *, by: str | None = None) -> int:
        return self.database.write(lambda session: self.deactivate_in(session, username, by=by))

    def deactivate_in(self, session: Session, username: str, *, by: str | None = None) -> int:
        """The account can no longer log in; every session of it ends now. An
        administrator (``by``) cannot lock themself out."""
        if by == username:
            raise InvalidInput("No puede desactivar su propia cuenta.")
        row = self._existing(session, username)
        row.active = False
        self._note(session, by=by, action="deactivate", username=username)
        return identity.revoke_all(session, self.models.session, username)

    def remove_second_factor(self, username: str, *, by: str | None = None) -> int:
        return self.database.write(
            lambda session: self.remove_second_factor_in(session, username, by=by)
        )

    def remove_second_factor_in(
        self, session: Session, username: str, *, by: str | None = None
    ) -> int:
        """For a person who lost the phone: the second factor (and any pending one) is
        gone and every session ends; they log in with the password and enrol again."""
        row = self._existing(session, username)
        identity.forget_second_factor(row)
        row.totp_pending = None
        self._note(session, by=by, action="reset-second-factor", username=username)
        return identity.revoke_all(session, self.models.session, username)

    def reset_password(self, username: str, *, by: str | None = None) -> str:
        return self.database.write(lambda session: self.reset_password_in(session, username, by=by))

    def reset_password_in(self, session: Session, username: str, *, by: str | None = None) -> str:
        """A new random password (given to the person by hand); every session ends and the
        second factor stays as it was."""
        row = self._existing(session, username)
        password = new_password()
        row.password_hash = hash_password(password)
        self._note(session, by=by, action="reset-password", username=username)
        identity.revoke_all(session, self.models.session, username)
        return password
