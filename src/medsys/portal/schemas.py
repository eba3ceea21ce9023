"""What the portal's JSON API accepts."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from medsys.core.request_parts import Rut


class AppointmentIn(BaseModel):
    """The seed's shape."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    patient_rut: Rut
    patient_name: str = Field(min_length=1, max_length=120)
    doctor_name: str = Field(min_length=1, max_length=120)
    specialty: str = Field(min_length=1, max_length=80)
    appointment_date: str = Field(min_length=1, max_length=40)
