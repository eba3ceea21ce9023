"""Request validation with pydantic, with problems told in Spanish (staff and patients
read them). One place for every service, so messages do not drift apart."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from medsys.core.errors import InvalidInput, MalformedRequest

M = TypeVar("M", bound=BaseModel)

_MESSAGES = {
    "missing": "falta este campo",
    "extra_forbidden": "campo no permitido",
    "string_type": "debe ser texto",
    "int_type": "debe ser un número entero",
    "int_parsing": "debe ser un número entero",
    "int_from_float": "debe ser un número entero",
    "bool_type": "debe ser verdadero o falso",
    "string_too_short": "debe tener al menos {min_length} caracteres",
    "string_too_long": "debe tener a lo más {max_length} caracteres",
    "greater_than": "debe ser mayor que {gt}",
    "greater_than_equal": "debe ser mayor o igual a {ge}",
    "less_than": "debe ser menor que {lt}",
    "less_than_equal": "debe ser menor o igual a {le}",
    "literal_error": "valor no permitido; use uno de: {expected}",
    "string_pattern_mismatch": "formato inválido",
    "value_error": "{error}",
}


def _in_spanish(problem: Any) -> str:
    template = _MESSAGES.get(problem["type"])
    if template is None:
        return "valor inválido"
    context = {key: str(value) for key, value in (problem.get("ctx") or {}).items()}
    try:
        return template.format(**context)
    except KeyError:
        return "valor inválido"


def problems(error: ValidationError) -> list[dict[str, str]]:
    return [
        {
            "campo": ".".join(str(part) for part in problem["loc"]) or "(cuerpo)",
            "problema": _in_spanish(problem),
        }
        for problem in error.errors(include_url=False, include_input=False)
    ]


def validate(model: type[M], payload: object) -> M:
    if not isinstance(payload, dict):
        raise MalformedRequest("El cuerpo debe ser un objeto JSON.")
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        raise InvalidInput("Datos inválidos.", details=problems(error)) from None
