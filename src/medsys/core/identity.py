"""Accounts, login counters and sessions as every app keeps them in its own database.

Each app declares its tables with these column mixins (clinical's ``staff``, admin's
``staff_accounts``, the portal's patient ``accounts``), so the rules below are written once:

- a login is admitted by reserving a failure on the account's and the address's counters
  (rows locked ``FOR UPDATE`` in a short transaction, before the slow password check) and
  settled afterwards (``core.lockout`` decides);
- a second-factor code is accepted once per time step (a conditional UPDATE of the step);
- a session is a row (only the hash of its secret is stored), so it survives an app
  instance's death and a database failover, and ends for every instance at once.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Boolean, Integer, Select, String, bindparam, select, update
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from medsys.core import lockout, passwords, totp
from medsys.core.clock import UTCDateTime, utc_now
from medsys.core.db import Database

SESSION_IDLE = timedelta(minutes=30)  # staff sessions; the portal keeps its 15 minutes
SESSION_LIFETIME = timedelta(hours=12)


class LoginCounterColumns:
    __tablename__ = "login_counters"
    key: Mapped[str] = mapped_column(String(96), primary_key=True)  # "account:x", "address:y"
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class SessionColumns:
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the secret
    account: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class SecondFactorColumns:
    totp_secret: Mapped[str | None] = mapped_column(String(64), nullable=True)
    totp_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    totp_last_step: Mapped[int | None] = mapped_column(Integer, nullable=True)


def forget_second_factor(account: Any) -> None:
    """No second factor any more (a lost phone): the next login asks the password only."""
    account.totp_secret = account.totp_last_step = None
    account.totp_enabled = False


class StaffAccountColumns(SecondFactorColumns):
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_administrator: Mapped[bool] = mapped_column(Boolean, default=False)
    totp_pending: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class CounterModel(Protocol):
    key: Any
    failures: Any
    window_started_at: Any
    locked_until: Any

    def __init__(self, **kwargs: Any) -> None: ...


class SessionModel(Protocol):
    id: Any
    account: Any
    last_seen_at: Any
    expires_at: Any
    revoked_at: Any

    def __init__(self, **kwargs: Any) -> None: ...


# --- login counters -------------------------------------------------------------------


@dataclass(frozen=True)
class Gate:
    """The two counters one login attempt goes through."""

    account_key: str
    address_key: str

    @classmethod
    def for_login(cls, account: str, address: str) -> Gate:
        return cls(f"account:{account[:80]}", f"address:{address[:80]}")

    def limit(self, key: str) -> int:
        return lockout.ACCOUNT_LIMIT if key == self.account_key else lockout.ADDRESS_LIMIT


def _locked_rows(session: Session, model: type[CounterModel], keys: Sequence[str]) -> list[Any]:
    table = model.__table__  # type: ignore[attr-defined]
    rows = [{"key": key, "failures": 0} for key in keys]
    if session.get_bind().dialect.name == "postgresql":
        session.execute(postgres_insert(table).values(rows).on_conflict_do_nothing())
    else:
        session.execute(mysql_insert(table).values(rows).prefix_with("IGNORE"))
    # Always in key order, so two attempts lock the same rows without deadlocking.
    query = select(model).where(model.key.in_(keys)).order_by(model.key).with_for_update()
    return list(session.scalars(query))


def _counter(row: Any) -> lockout.Counter:
    return lockout.Counter(row.failures, row.window_started_at, row.locked_until)


def _store(row: Any, counter: lockout.Counter) -> None:
    row.failures = counter.failures
    row.window_started_at = counter.window_started
    row.locked_until = counter.locked_until


def admit(
    session: Session, model: type[CounterModel], gate: Gate, *, now: datetime | None = None
) -> str | None:
    """Reserve a failure on both counters; the refusal (Spanish) when either is locked."""
    now = now or utc_now()
    rows = {
        row.key: row for row in _locked_rows(session, model, [gate.account_key, gate.address_key])
    }
    admitted = {}
    for key, refusal in (
        (gate.account_key, lockout.ACCOUNT_LOCKED),
        (gate.address_key, lockout.ADDRESS_LOCKED),
    ):
        counter = lockout.admit(_counter(rows[key]), limit=gate.limit(key), now=now)
        if counter is None:
            return refusal
        admitted[key] = counter
    for key, counter in admitted.items():
        _store(rows[key], counter)
    return None


def settle(
    session: Session, model: type[CounterModel], gate: Gate, *, succeeded: bool, counted: bool
) -> None:
    """After the check: a success clears the account and gives the address its reservation
    back; an attempt that was not judged (``counted=False``) gives both back; a failure
    keeps both."""
    if counted and not succeeded:
        return
    for row in _locked_rows(session, model, [gate.account_key, gate.address_key]):
        if succeeded and row.key == gate.account_key:
            _store(row, lockout.Counter())
        else:
            _store(row, lockout.give_back(_counter(row), limit=gate.limit(row.key)))


def clear(session: Session, model: type[CounterModel], key: str) -> None:
    """Forget an account's failures (its owner proved who they are another way)."""
    row = session.get(model, key, with_for_update=True)
    if row is not None:
        _store(row, lockout.Counter())


def upgrade_hash(
    database: Database, model: Any, account_id: int, stored: str, password: str
) -> None:
    """After a good password: store its hash anew when ``stored`` was made with other
    parameters than the profile in use (core.passwords.rehashed), and only where
    ``stored`` is still the stored hash: a password changed meanwhile is never overwritten."""
    new = passwords.rehashed(stored, password)
    if new is None:
        return
    database.write(
        lambda s: s.execute(
            update(model)
            .where(model.id == account_id, model.password_hash == stored)
            .values(password_hash=new)
            .execution_options(synchronize_session=False)
        )
    )


# --- second factor --------------------------------------------------------------------


def use_code(
    session: Session,
    model: Any,
    *,
    account_id: int,
    secret: str,
    last_used: int | None,
    code: str,
    now: datetime | None = None,
) -> bool:
    """Whether ``code`` is good and its time step unused; marks the step used (a
    conditional UPDATE, so two requests with one code cannot both pass)."""
    step = totp.matching_step(secret, code, now=now or utc_now(), last_used=last_used)
    if step is None:
        return False
    last = model.totp_last_step
    claimed = session.execute(
        update(model)
        .where(model.id == account_id, (last.is_(None)) | (last < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    return bool(claimed.rowcount)  # type: ignore[attr-defined]


def locked(
    session: Session, model: type[CounterModel], key: str, *, now: datetime | None = None
) -> bool:
    row = session.get(model, key)
    return row is not None and _counter(row).locked(now or utc_now())


# --- sessions -------------------------------------------------------------------------


def session_id_of(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def open_session(
    session: Session,
    model: type[SessionModel],
    account: str,
    *,
    lifetime: timedelta = SESSION_LIFETIME,
    now: datetime | None = None,
) -> tuple[str, str]:
    """(secret for the holder, session id for tokens); only the id is stored."""
    now = now or utc_now()
    secret = secrets.token_urlsafe(32)
    identifier = session_id_of(secret)
    session.add(
        model(
            id=identifier,
            account=account,
            created_at=now,
            last_seen_at=now,
            expires_at=now + lifetime,
        )
    )
    return secret, identifier


def _still_open(row: Any, now: datetime, idle: timedelta) -> bool:
    if row.revoked_at is not None:
        return False
    return bool(now < row.expires_at and now - row.last_seen_at < idle)


def live_session(
    session: Session,
    model: type[SessionModel],
    identifier: str,
    *,
    idle: timedelta = SESSION_IDLE,
    now: datetime | None = None,
) -> Any | None:
    """The session row if it is open: not revoked, not expired, not idle too long."""
    row = session.get(model, identifier)
    if row is None or not _still_open(row, now or utc_now(), idle):
        return None
    return row


def session_is_open(
    session: Session,
    model: type[SessionModel],
    identifier: str,
    account: str,
    *,
    idle: timedelta = SESSION_IDLE,
) -> bool:
    """``account``'s session ``identifier`` is open. The check every page and API request
    makes, so it reads four columns with Core: the ORM's load was a quarter of the
    portal's CPU per page (py-spy)."""
    row = session.execute(_session_state_of(model), {"id": identifier}).first()
    return row is not None and bool(row.account == account) and _still_open(row, utc_now(), idle)


@functools.cache
def _session_state_of(model: type[SessionModel]) -> Select[Any]:
    """Built once per kind of session (see clinical.records for why)."""
    return select(model.account, model.revoked_at, model.expires_at, model.last_seen_at).where(
        model.id == bindparam("id")
    )


def revoke_session(
    session: Session, model: type[SessionModel], identifier: str, *, now: datetime | None = None
) -> None:
    session.execute(
        update(model)
        .where(model.id == identifier, model.revoked_at.is_(None))
        .values(revoked_at=now or utc_now())
        .execution_options(synchronize_session=False)
    )


def revoke_all(
    session: Session, model: type[SessionModel], account: str, *, now: datetime | None = None
) -> int:
    """End every session of ``account`` (logout everywhere, deactivation, new password)."""
    ended = session.execute(
        update(model)
        .where(model.account == account, model.revoked_at.is_(None))
        .values(revoked_at=now or utc_now())
        .execution_options(synchronize_session=False)
    )
    return int(ended.rowcount)  # type: ignore[attr-defined]


# --- schema (called from each app's Alembic migration) ----------------------------------


def create_login_tables(op: Any, *, sessions_table: str) -> None:
    """The login counters and the sessions table, as of their first migration."""
    import sqlalchemy as sa

    op.create_table(
        "login_counters",
        sa.Column("key", sa.String(length=96), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", UTCDateTime(), nullable=True),
        sa.Column("locked_until", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        sessions_table,
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(f"ix_{sessions_table}_account", sessions_table, ["account"])


def second_factor_columns() -> list[Any]:
    import sqlalchemy as sa

    return [
        sa.Column("totp_secret", sa.String(length=64), nullable=True),
        sa.Column("totp_enabled", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("totp_last_step", sa.Integer(), nullable=True),
    ]
