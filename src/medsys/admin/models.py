"""Administrative and financial records. Money is integer CLP. Nothing financial is
deleted: a void, a refund or a change of coverage is a new fact, not an erased one."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from medsys.core.clock import UTCDateTime, utc_now
from medsys.core.forms import FormSubmissionColumns
from medsys.core.identity import LoginCounterColumns, SessionColumns, StaffAccountColumns


class Base(DeclarativeBase):
    pass


class Patient(Base):
    __tablename__ = "patients"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rut: Mapped[str] = mapped_column(String(12), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(16), nullable=True)
    address: Mapped[str | None] = mapped_column(String(200), nullable=True)
    birth_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    sex: Mapped[str | None] = mapped_column(String(16), nullable=True)
    emergency_name: Mapped[str | None] = mapped_column(String(120), nullable=True)
    emergency_phone: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class Coverage(Base):
    """A patient's previsión for a period; the current one is the latest valid today."""

    __tablename__ = "coverages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_rut: Mapped[str] = mapped_column(ForeignKey("patients.rut"), index=True)
    insurer: Mapped[str] = mapped_column(String(12))
    tramo: Mapped[str | None] = mapped_column(String(1), nullable=True)
    modality: Mapped[str | None] = mapped_column(String(3), nullable=True)
    plan: Mapped[str | None] = mapped_column(String(80), nullable=True)
    percent: Mapped[int | None] = mapped_column(Integer, nullable=True)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class Invoice(Base):
    __tablename__ = "invoices"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    patient_rut: Mapped[str] = mapped_column(ForeignKey("patients.rut"), index=True)
    coverage_text: Mapped[str] = mapped_column(String(120))
    total: Mapped[int] = mapped_column(BigInteger)
    insurer_share: Mapped[int] = mapped_column(BigInteger)
    copay: Mapped[int] = mapped_column(BigInteger)
    voided: Mapped[bool] = mapped_column(default=False)
    void_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    lines: Mapped[list[InvoiceLine]] = relationship(order_by="InvoiceLine.id", lazy="selectin")


class InvoiceLine(Base):
    __tablename__ = "invoice_lines"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    kind: Mapped[str] = mapped_column(String(12))  # consultation | procedure
    description: Mapped[str] = mapped_column(String(200))
    amount: Mapped[int] = mapped_column(BigInteger)
    insurer_share: Mapped[int] = mapped_column(BigInteger)
    copay: Mapped[int] = mapped_column(BigInteger)


class Payment(Base):
    """A payment received, or a refund given back (kind), with the client's key."""

    __tablename__ = "payments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_rut: Mapped[str] = mapped_column(ForeignKey("patients.rut"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # payment | refund
    amount: Mapped[int] = mapped_column(BigInteger)  # always positive; kind gives the sign
    method: Mapped[str] = mapped_column(String(16))
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    request_digest: Mapped[str] = mapped_column(String(64))
    refund_of: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), nullable=True)
    note: Mapped[str | None] = mapped_column(String(200), nullable=True)
    recorded_by: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    allocations: Mapped[list[Allocation]] = relationship(order_by="Allocation.id", lazy="selectin")


class Allocation(Base):
    """Part of a payment applied to an invoice (negative for a refund)."""

    __tablename__ = "allocations"
    __table_args__ = (UniqueConstraint("payment_id", "invoice_id", name="uq_allocation"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    invoice: Mapped[Invoice] = relationship(lazy="joined")


class StaffAccount(StaffAccountColumns, Base):
    """A clerk's or an accountant's login (core.identity's columns)."""

    __tablename__ = "staff_accounts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)


class StaffSession(SessionColumns, Base):
    __tablename__ = "staff_sessions"


class LoginCounter(LoginCounterColumns, Base):
    pass


class FormSubmission(FormSubmissionColumns, Base):
    """A page form's idempotency key (``core.forms``)."""


class PhoneBooking(Base):
    """An appointment a clerk booked for a patient on the phone (the slot lives in clinical;
    ``reservation_key`` is what holds it there, and what releases it)."""

    __tablename__ = "phone_bookings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_rut: Mapped[str] = mapped_column(String(12), index=True)
    slot_id: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[str] = mapped_column(String(40))  # as clinical said it, Santiago ISO
    doctor: Mapped[str] = mapped_column(String(120))
    specialty: Mapped[str | None] = mapped_column(String(80), nullable=True)
    reservation_key: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(12), default="booked")  # booked | cancelled
    booked_by: Mapped[str] = mapped_column(String(64))
    booked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    cancelled_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Price(Base):
    """One line of the price list: a consultation of a specialty, or a procedure."""

    __tablename__ = "prices"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item: Mapped[str] = mapped_column(String(160), unique=True)  # "consulta:Pediatría"
    kind: Mapped[str] = mapped_column(String(12))  # consultation | procedure
    description: Mapped[str] = mapped_column(String(200))
    amount: Mapped[int] = mapped_column(BigInteger)
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class Charge(Base):
    """What a closed consultation owes, priced from the list when captured (``amount``
    None: no price for that item yet). Invoiced once: ``invoice_number`` then says where."""

    __tablename__ = "charges"
    __table_args__ = (
        UniqueConstraint("consultation_id", "item", name="uq_charge_consultation_item"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    consultation_id: Mapped[int] = mapped_column(Integer)
    item: Mapped[str] = mapped_column(String(160))
    patient_rut: Mapped[str] = mapped_column(String(12), index=True)
    kind: Mapped[str] = mapped_column(String(12))
    description: Mapped[str] = mapped_column(String(200))
    amount: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    invoice_number: Mapped[str | None] = mapped_column(String(20), nullable=True)
    captured_by: Mapped[str] = mapped_column(String(64))
    captured_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    # When clinical closed the consultation: the capture's cursor.
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)
