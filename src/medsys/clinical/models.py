"""The clinical records. Nothing clinical is ever deleted: statuses say what happened
(FHIR's vocabularies: Encounter.status, Condition verification, MedicationRequest.status)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from medsys.core.clock import UTCDateTime, utc_now
from medsys.core.forms import FormSubmissionColumns
from medsys.core.identity import LoginCounterColumns, SessionColumns, StaffAccountColumns


class Base(DeclarativeBase):
    pass


class StaffRole(StrEnum):
    DOCTOR = "doctor"
    NURSE = "nurse"


class EncounterStatus(StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in-progress"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    ENTERED_IN_ERROR = "entered-in-error"


class SlotStatus(StrEnum):
    FREE = "free"
    RESERVED = "reserved"
    BLOCKED = "blocked"


class VisitStatus(StrEnum):
    """Where the patient of a reserved slot is (FHIR Appointment.status, in our words)."""

    BOOKED = "booked"
    ARRIVED = "arrived"
    IN_CONSULTATION = "in-consultation"
    FINISHED = "finished"
    NO_SHOW = "no-show"


class DiagnosisStatus(StrEnum):
    """FHIR Condition.verificationStatus: a wrong entry is marked, never deleted."""

    CONFIRMED = "confirmed"
    REFUTED = "refuted"
    ENTERED_IN_ERROR = "entered-in-error"


class TreatmentStatus(StrEnum):
    ACTIVE = "active"
    STOPPED = "stopped"
    COMPLETED = "completed"


class Staff(StaffAccountColumns, Base):
    """A doctor or a nurse: a person in the agenda and a login (core.identity's columns)."""

    __tablename__ = "staff"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rut: Mapped[str] = mapped_column(String(12), unique=True)
    specialty: Mapped[str | None] = mapped_column(String(80), nullable=True)


class StaffSession(SessionColumns, Base):
    __tablename__ = "staff_sessions"


class LoginCounter(LoginCounterColumns, Base):
    pass


class ScheduleRule(Base):
    """A doctor's weekly hours, in Santiago wall-clock time (so DST moves the UTC slots)."""

    __tablename__ = "schedule_rules"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    doctor_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    weekday: Mapped[int] = mapped_column(Integer)  # 0 = Monday
    start_local: Mapped[str] = mapped_column(String(5))  # "09:00"
    end_local: Mapped[str] = mapped_column(String(5))
    slot_minutes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class Slot(Base):
    __tablename__ = "slots"
    __table_args__ = (UniqueConstraint("doctor_id", "starts_at", name="uq_slot_doctor_start"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    doctor_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default=SlotStatus.FREE.value, index=True)
    reservation_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    patient_rut: Mapped[str | None] = mapped_column(String(12), nullable=True)
    note: Mapped[str | None] = mapped_column(String(200), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    visit_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    doctor: Mapped[Staff] = relationship(lazy="joined")


class Consultation(Base):
    __tablename__ = "consultations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_rut: Mapped[str] = mapped_column(String(12), index=True)
    doctor_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    reason: Mapped[str] = mapped_column(String(500))
    notes: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default=EncounterStatus.PLANNED.value)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    # Billing's cursor (with the id): when it was closed, not when it was booked.
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    slot_id: Mapped[int | None] = mapped_column(ForeignKey("slots.id"), nullable=True, unique=True)
    doctor: Mapped[Staff] = relationship(lazy="joined")
    diagnoses: Mapped[list[Diagnosis]] = relationship(order_by="Diagnosis.id", lazy="selectin")
    treatments: Mapped[list[Treatment]] = relationship(order_by="Treatment.id", lazy="selectin")
    observations: Mapped[list[Observation]] = relationship(
        order_by="Observation.id", lazy="selectin"
    )


class Diagnosis(Base):
    __tablename__ = "diagnoses"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultations.id"), index=True)
    code: Mapped[str] = mapped_column(String(10))  # ICD-10
    description: Mapped[str] = mapped_column(String(300))
    rank: Mapped[str] = mapped_column(String(12))  # principal | secondary
    status: Mapped[str] = mapped_column(String(20), default=DiagnosisStatus.CONFIRMED.value)
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    status_reason: Mapped[str | None] = mapped_column(String(300), nullable=True)
    status_changed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Treatment(Base):
    __tablename__ = "treatments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(12))  # medication | procedure
    description: Mapped[str] = mapped_column(String(300))  # drug or procedure
    dose: Mapped[str | None] = mapped_column(String(80), nullable=True)
    route: Mapped[str | None] = mapped_column(String(40), nullable=True)
    frequency: Mapped[str | None] = mapped_column(String(80), nullable=True)
    duration: Mapped[str | None] = mapped_column(String(80), nullable=True)
    status: Mapped[str] = mapped_column(String(20), default=TreatmentStatus.ACTIVE.value)
    prescribed_by: Mapped[str] = mapped_column(String(64))
    prescribed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    stopped_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    stop_reason: Mapped[str | None] = mapped_column(String(300), nullable=True)


class Observation(Base):
    """Vitals and nursing notes."""

    __tablename__ = "observations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    value: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str | None] = mapped_column(String(20), nullable=True)
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class Allergy(Base):
    __tablename__ = "allergies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_rut: Mapped[str] = mapped_column(String(12), index=True)
    substance: Mapped[str] = mapped_column(String(120))
    reaction: Mapped[str | None] = mapped_column(String(200), nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="active")
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class FormSubmission(FormSubmissionColumns, Base):
    """A page form's idempotency key (``core.forms``)."""


class Document(Base):
    """A prescription or certificate as issued: its content frozen as JSON, found again by
    the verification code printed on it."""

    __tablename__ = "documents"
    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # receta | certificado
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultations.id"))
    patient_rut: Mapped[str] = mapped_column(String(12))
    issued_by: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    body: Mapped[str] = mapped_column(Text)
