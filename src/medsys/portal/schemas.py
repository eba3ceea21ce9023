"""What the portal's JSON API accepts."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from medsys.core.rut import InvalidRutError, normalize_rut


def _rut(value: str) -> str:
    try:
        return normalize_rut(value)
    except InvalidRutError as error:
        raise ValueError(str(error)) from None


class AppointmentIn(BaseModel):
    """The seed's shape."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    patient_rut: Annotated[str, AfterValidator(_rut)]
    patient_name: str = Field(min_length=1, max_length=120)
    doctor_name: str = Field(min_length=1, max_length=120)
    specialty: str = Field(min_length=1, max_length=80)
    appointment_date: str = Field(min_length=1, max_length=40)
