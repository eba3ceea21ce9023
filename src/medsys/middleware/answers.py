"""What the middleware answers, as typed models for its OpenAPI document. Most routes
send JSON they already hold (a ``JSONResponse``, for speed: see ``routes``), so these
describe rather than re-validate; the admin data it passes on keeps admin's own models
(``core.admin_answers``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from medsys.core.admin_answers import AccessEntryOut as AdminAccessEntryOut
from medsys.core.admin_answers import (  # passed on as admin answers them
    AccountContactOut,
    PatientWithCoverageOut,
    PaymentOut,
    SummaryOut,
)

__all__ = ["AccountContactOut", "PatientWithCoverageOut", "PaymentOut", "SummaryOut"]


class Partial(BaseModel):
    partial: bool = Field(description="Falta una parte porque un servicio no respondió")
    missing: list[str]


class PatientBrief(BaseModel):
    rut: str
    name: str | None
    email: str | None = None
    phone: str | None = None
    coverage: str | None = None


class DiagnosisLine(BaseModel):
    text: str
    code: str | None
    main: bool


class TreatmentLine(BaseModel):
    text: str
    kind: str


class ConsultationLine(BaseModel):
    id: int
    date: str
    date_text: str
    doctor: str
    specialty: str | None
    reason: str | None
    status: str
    diagnoses: list[DiagnosisLine]
    treatments: list[TreatmentLine]
    vitals: list[str]


class MedicalHistoryOut(Partial):
    rut: str
    patient: PatientBrief | None
    consultations: list[ConsultationLine]
    total: int
    page: int


class AccessEntryOut(AdminAccessEntryOut):
    service: str = Field(description="clínico o administrativo")


class AccessLogOut(Partial):
    rut: str
    entries: list[AccessEntryOut]


class FhirBundleOut(BaseModel):
    """A FHIR R4 Bundle (searchset); each entry a FHIR resource as FHIR defines it."""

    resourceType: str = Field(examples=["Bundle"])
    type: str = Field(examples=["searchset"])
    entry: list[dict[str, Any]]


class DoctorOut(BaseModel):
    id: int
    name: str
    rut: str | None
    specialty: str | None


class DoctorsOut(BaseModel):
    doctors: list[DoctorOut]


class SlotOut(BaseModel):
    id: int
    doctor: DoctorOut
    starts_at: str
    ends_at: str
    status: str
    patient_rut: str | None
    note: str | None


class SlotsOut(BaseModel):
    slots: list[SlotOut]


class BillableOut(BaseModel):
    consultation_id: int
    patient_rut: str
    starts_at: str
    closed_at: str | None
    specialty: str
    procedures: list[str]


class BillablesOut(BaseModel):
    consultations: list[BillableOut]


class IndexOut(BaseModel):
    service: str
    docs: str
    health: str


class HealthOut(BaseModel):
    service: str
    status: str = Field(description="ok, o degraded si un servicio no tiene instancia usable")
    upstreams: dict[str, dict[str, dict[str, Any]]] = Field(
        description="Por servicio e instancia: el estado de su circuit breaker"
    )
    retry_budget_refusals: dict[str, int]
