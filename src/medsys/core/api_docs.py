"""What the OpenAPI documents of the FastAPI services declare beyond each route's success:
the error statuses a route can answer and the one body they all share."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel, Field

DESCRIPTIONS = {
    400: "Petición mal formada (p. ej., falta la cabecera Idempotency-Key).",
    401: "Sin token válido o con la sesión terminada.",
    403: "El rol o la persona no puede hacer esto.",
    404: "No existe.",
    409: "En conflicto con el estado actual (p. ej., ya existe, o la hora ya fue tomada).",
    413: "El cuerpo es demasiado grande (el balanceador acepta hasta 1 MB).",
    414: "La dirección es demasiado larga (p. ej., demasiados parámetros).",
    422: "Datos inválidos; no se guardó nada.",
    429: "Demasiados intentos fallidos; espere antes de reintentar.",
    502: "Un servicio del que depende respondió mal.",
    503: "La base de datos o un servicio del que depende no está disponible; reintente.",
    504: "Un servicio del que depende no respondió a tiempo.",
}


class Problem(BaseModel):
    campo: str
    problema: str


class ErrorOut(BaseModel):
    """Every error answer: a code for programs and a Spanish message for people."""

    error: str = Field(examples=["invalid_input"])
    message: str = Field(examples=["Datos inválidos."])
    details: list[Problem] | list[dict[str, Any]] | None = None


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route or router that can answer ``statuses``."""
    return {status: {"model": ErrorOut, "description": DESCRIPTIONS[status]} for status in statuses}


# A route behind a bearer token, on a database: what any of them can answer.
AUTHENTICATED = errors(400, 401, 403, 404, 409, 422, 503)
# What nginx itself answers in front of the admin instances.
BALANCED = errors(413, 414)


# A patient's RUT in the path, in any usual spelling; the example is a demo patient's, so
# the documented example (and a fuzzer starting from it) reaches a real record.
PATIENT_RUT_RULES: dict[str, Any] = {
    "min_length": 2,
    "max_length": 14,
    "description": "RUT del paciente, con o sin puntos y guion (p. ej., 11.111.111-1)",
    "examples": ["11111111-1"],
}
PatientRut = Annotated[str, Path(**PATIENT_RUT_RULES)]
