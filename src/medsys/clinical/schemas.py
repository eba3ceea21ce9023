"""What the clinical API accepts. Messages in Spanish: staff read them."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from medsys.clinical import icd10
from medsys.core.clock import parse_instant
from medsys.core.errors import InvalidInput
from medsys.core.request_parts import Rut

ICD10 = re.compile(r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$")
HOUR = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


def _instant(value: object) -> datetime:
    try:
        return parse_instant(value)
    except InvalidInput as error:
        raise ValueError(error.message) from None


def _icd10(value: str) -> str:
    code = value.strip().upper()
    if not ICD10.match(code):
        raise ValueError("código CIE-10 inválido: use una letra y dos dígitos, p. ej. J06.9")
    if icd10.entry(code) is None:
        raise ValueError(
            f"{code} no es un código CIE-10 terminal del catálogo OMS 2019 (p. ej. J06.9)"
        )
    return code


def _hour(value: str) -> str:
    if not HOUR.match(value):
        raise ValueError("hora inválida: use HH:MM, p. ej. 09:30")
    return value


Instant = Annotated[datetime, BeforeValidator(_instant)]
Icd10 = Annotated[str, AfterValidator(_icd10)]
Hour = Annotated[str, AfterValidator(_hour)]
Text = Annotated[str, Field(min_length=1, max_length=500)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ScheduleIn(Strict):
    weekday: int = Field(ge=0, le=6, description="0 = lunes")
    start: Hour
    end: Hour
    slot_minutes: int = Field(default=30, ge=10, le=240)
    weeks: int = Field(default=4, ge=1, le=26)


class BlockIn(Strict):
    reason: Text


class ReserveIn(Strict):
    patient_rut: Rut


class ConsultationIn(Strict):
    patient_rut: Rut
    doctor_id: int = Field(gt=0)
    starts_at: Instant
    reason: Text
    notes: str = Field(default="", max_length=5000)


class ConsultationPatch(Strict):
    notes: str | None = Field(default=None, max_length=5000)
    status: Literal["planned", "in-progress", "cancelled", "entered-in-error"] | None = None


class DiagnosisIn(Strict):
    code: Icd10
    description: Text
    rank: Literal["principal", "secondary"] = "principal"


class TreatmentIn(Strict):
    kind: Literal["medication", "procedure"]
    description: Text
    dose: str | None = Field(default=None, max_length=80)
    route: str | None = Field(default=None, max_length=40)
    frequency: str | None = Field(default=None, max_length=80)
    duration: str | None = Field(default=None, max_length=80)


class ObservationIn(Strict):
    kind: str = Field(min_length=1, max_length=40)
    value: str = Field(min_length=1, max_length=200)
    unit: str | None = Field(default=None, max_length=20)


class AllergyIn(Strict):
    substance: str = Field(min_length=2, max_length=120)
    reaction: str | None = Field(default=None, max_length=200)


class DiagnosisStatusIn(Strict):
    status: Literal["refuted", "entered-in-error"]
    reason: Text


class StopIn(Strict):
    reason: Text


class VisitStartIn(Strict):
    reason: Text
