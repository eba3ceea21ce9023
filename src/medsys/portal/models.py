"""The portal's own records: patient accounts, login attempts, appointments."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from medsys.core.clock import UTCDateTime, utc_now
from medsys.core.identity import LoginCounterColumns, SecondFactorColumns, SessionColumns


class Base(DeclarativeBase):
    pass


class Account(SecondFactorColumns, Base):
    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rut: Mapped[str] = mapped_column(String(12), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class PortalSession(SessionColumns, Base):
    """A patient's browser session: the cookie holds its secret, this row its state, so
    logout or a new password ends it on every portal process at once."""

    __tablename__ = "sessions"


class LoginCounter(LoginCounterColumns, Base):
    pass


class LoginAttempt(Base):
    """The account's login history (lockout is decided by core.identity's counters)."""

    __tablename__ = "login_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rut: Mapped[str] = mapped_column(String(20), index=True)  # as typed, normalised if valid
    address: Mapped[str] = mapped_column(String(64), index=True)
    succeeded: Mapped[bool] = mapped_column(default=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now, index=True)


class ResetToken(Base):
    """A password-reset link: only its hash is kept; single use, 30 minutes, and revoked
    when the account is locked out."""

    __tablename__ = "reset_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rut: Mapped[str] = mapped_column(String(12), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class Appointment(Base):
    """pending -> booked -> cancelled, or pending -> failed when the slot could not be
    reserved (the slot is then released: no ghost bookings, no lost slots)."""

    __tablename__ = "appointments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_rut: Mapped[str] = mapped_column(String(12), index=True)
    slot_id: Mapped[int] = mapped_column(Integer)  # clinical's slot, reserved by key
    reservation_key: Mapped[str] = mapped_column(String(64), unique=True)
    doctor_name: Mapped[str] = mapped_column(String(120))
    specialty: Mapped[str | None] = mapped_column(String(80), nullable=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(12), default="pending")
    note: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
