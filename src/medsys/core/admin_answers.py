"""What the admin API answers, as typed models: its OpenAPI document says exactly what a
client gets, and an answer that would not match is an error here, not a surprise there.
In core, not in admin, because the middleware passes these answers on and documents them
too, and one service never imports another.
Patients keep the seed's Spanish keys; money is integer CLP; times are ISO 8601 in
America/Santiago."""

from __future__ import annotations

from pydantic import BaseModel


class PatientOut(BaseModel):
    rut: str
    nombre: str
    email: str | None
    telefono: str | None
    direccion: str | None
    fecha_nacimiento: str | None
    sexo: str | None
    contacto_emergencia: str | None
    telefono_emergencia: str | None
    creado: str


class AccountContactOut(BaseModel):
    """What the portal needs to mail an account link, and nothing more."""

    rut: str
    nombre: str
    email: str | None


class CoverageOut(BaseModel):
    insurer: str
    tramo: str | None
    modality: str | None
    plan: str | None
    percent: int | None
    valid_from: str
    valid_to: str | None
    description: str


class PatientWithCoverageOut(PatientOut):
    coverage: CoverageOut | None


class InvoiceLineOut(BaseModel):
    kind: str
    description: str
    amount: int
    insurer_share: int
    copay: int


class InvoiceOut(BaseModel):
    number: str
    patient_rut: str
    issued_at: str
    coverage: str
    total: int
    insurer_share: int
    copay: int
    paid: int
    outstanding: int
    status: str
    void_reason: str | None
    lines: list[InvoiceLineOut]


class AllocationOut(BaseModel):
    invoice: str
    amount: int


class PaymentOut(BaseModel):
    id: int
    patient_rut: str
    kind: str
    amount: int
    method: str
    received_at: str
    refund_of: int | None
    note: str | None
    allocations: list[AllocationOut]


class TotalsOut(BaseModel):
    billed: int
    paid: int
    outstanding: int


class BalanceOut(TotalsOut):
    patient_rut: str


class SummaryOut(BaseModel):
    patient: PatientOut
    coverage: CoverageOut | None
    invoices: list[InvoiceOut]
    balance: TotalsOut


class AccessEntryOut(BaseModel):
    at: str
    who: str
    role: str
    action: str
    what: str
    via: str | None
    patient: str | None


class AccessLogOut(BaseModel):
    patient_rut: str
    entries: list[AccessEntryOut]


class ServiceOut(BaseModel):
    service: str
    instance: str


class DatabaseStateOut(BaseModel):
    primary: str | None
    reachable: bool


class HealthOut(ServiceOut):
    database: DatabaseStateOut
    status: str
