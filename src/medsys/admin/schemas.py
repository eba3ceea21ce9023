"""What the admin API accepts. The seed's patient shape (Spanish keys) is the API's own."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from medsys.core.clock import SANTIAGO
from medsys.core.request_parts import Rut

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
MAX_AMOUNT = 100_000_000  # CLP; a larger single amount is a typing mistake


def _email(value: str | None) -> str | None:
    if value in (None, ""):
        return None
    if len(value) > 254 or not EMAIL.match(value):
        raise ValueError("correo electrónico inválido, p. ej. nombre@dominio.cl")
    return value.lower()


def _phone(value: str | None) -> str | None:
    """Chilean numbers: 9 digits, with or without +56; stored as +56XXXXXXXXX."""
    if value in (None, ""):
        return None
    digits = re.sub(r"[\s\-().]", "", value)
    digits = digits.removeprefix("+56").removeprefix("0056")
    if not re.fullmatch(r"\d{9}", digits):
        raise ValueError("teléfono inválido: use 9 dígitos, p. ej. +56 9 1234 5678")
    return "+56" + digits


Email = Annotated[str | None, AfterValidator(_email)]
Phone = Annotated[str | None, AfterValidator(_phone)]
Pesos = Annotated[int, Field(strict=True, gt=0, le=MAX_AMOUNT)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


Sex = Literal["femenino", "masculino", "otro", "no informado"]


def _born(value: date | None) -> date | None:
    if value is not None and not date(1900, 1, 1) <= value <= datetime.now(SANTIAGO).date():
        raise ValueError("la fecha de nacimiento debe estar entre 1900 y hoy")
    return value


BirthDate = Annotated[date | None, AfterValidator(_born)]


class PatientIn(Strict):
    rut: Rut
    nombre: str = Field(min_length=1, max_length=120)
    email: Email = None
    telefono: Phone = None
    direccion: str | None = Field(default=None, max_length=200)
    fecha_nacimiento: BirthDate = None
    sexo: Sex | None = None
    contacto_emergencia: str | None = Field(default=None, max_length=120)
    telefono_emergencia: Phone = None


class PatientPatch(Strict):
    """Only the fields sent change; null empties an optional one. The name can change but
    never be emptied (found by the API fuzzer: a null name was a server error)."""

    nombre: str = Field(default=None, min_length=1, max_length=120)  # type: ignore[assignment]
    email: Email = None
    telefono: Phone = None
    direccion: str | None = Field(default=None, max_length=200)
    fecha_nacimiento: BirthDate = None
    sexo: Sex | None = None
    contacto_emergencia: str | None = Field(default=None, max_length=120)
    telefono_emergencia: Phone = None


class CoverageIn(Strict):
    insurer: Literal["FONASA", "ISAPRE", "CAPREDENA", "DIPRECA", "PARTICULAR"]
    tramo: Literal["A", "B", "C", "D"] | None = None
    modality: Literal["MAI", "MLE"] | None = None
    plan: str | None = Field(default=None, max_length=80)
    percent: int | None = Field(default=None, ge=0, le=100, strict=True)
    valid_from: date
    valid_to: date | None = None

    @model_validator(mode="after")
    def consistent(self) -> CoverageIn:
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError("la vigencia termina antes de empezar")
        if self.insurer == "FONASA":
            if self.tramo is None or self.modality is None:
                raise ValueError("FONASA necesita tramo (A-D) y modalidad (MAI o MLE)")
            if self.tramo == "A" and self.modality == "MLE":
                raise ValueError("el tramo A de FONASA no puede usar la Modalidad Libre Elección")
        elif self.insurer == "PARTICULAR":
            self.tramo = self.modality = None
            self.percent = None
        else:
            if self.percent is None:
                raise ValueError(f"{self.insurer} necesita el porcentaje de cobertura del plan")
            if self.insurer == "ISAPRE" and not self.plan:
                raise ValueError("una ISAPRE necesita el nombre de la institución y plan")
        return self


class LineIn(Strict):
    kind: Literal["consultation", "procedure"]
    description: str = Field(min_length=1, max_length=200)
    amount: Pesos


class InvoiceIn(Strict):
    patient_rut: Rut
    lines: list[LineIn] = Field(min_length=1, max_length=50)


class AllocationIn(Strict):
    invoice: str = Field(min_length=1, max_length=20, description="número de la factura")
    amount: Pesos


class PaymentIn(Strict):
    patient_rut: Rut
    amount: Pesos
    method: Literal["efectivo", "tarjeta", "transferencia"] = "tarjeta"
    allocations: list[AllocationIn] | None = Field(
        default=None, max_length=20, description="sin asignaciones: a las facturas más antiguas"
    )

    @model_validator(mode="after")
    def allocations_add_up(self) -> PaymentIn:
        if self.allocations is not None:
            if not self.allocations:
                raise ValueError("indique al menos una factura, u omita 'allocations'")
            if sum(a.amount for a in self.allocations) != self.amount:
                raise ValueError("las asignaciones deben sumar el monto del pago")
            invoices = [a.invoice for a in self.allocations]
            if len(set(invoices)) != len(invoices):
                raise ValueError("cada factura puede aparecer una sola vez")
        return self


class RefundIn(Strict):
    amount: Pesos
    reason: str = Field(min_length=1, max_length=200)


class VoidIn(Strict):
    reason: str = Field(min_length=1, max_length=200)
