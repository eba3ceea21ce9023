"""Request validation with pydantic, with problems told in Spanish (staff and patients
read them). One place for every service, so messages do not drift apart."""

from __future__ import annotations

from collections.abc import Sequence
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
    "json_invalid": "el cuerpo no es JSON válido",
    "model_attributes_type": "debe ser un objeto JSON",
    "dict_type": "debe ser un objeto JSON",
    "list_type": "debe ser una lista",
    "too_short": "debe tener al menos {min_length} elementos",
    "too_long": "debe tener a lo más {max_length} elementos",
    "date_from_datetime_parsing": "fecha inválida: use AAAA-MM-DD",
    "date_parsing": "fecha inválida: use AAAA-MM-DD",
    "date_type": "fecha inválida: use AAAA-MM-DD",
}


def _in_spanish(problem: Any) -> str:
    if problem["type"] == "string_too_short" and (problem.get("ctx") or {}).get("min_length") == 1:
        return "no puede estar vacío"
    template = _MESSAGES.get(problem["type"])
    if template is None:
        return "valor inválido"
    context = {key: str(value) for key, value in (problem.get("ctx") or {}).items()}
    try:
        return template.format(**context)
    except KeyError:
        return "valor inválido"


def problems(errors: Sequence[Any]) -> list[dict[str, str]]:
    """Pydantic's (or FastAPI's) error list, told in Spanish; FastAPI's 'body'/'query'
    prefix of a location is dropped."""
    told = []
    for problem in errors:
        location = [str(part) for part in problem["loc"]]
        if location and location[0] in ("body", "query", "path", "header"):
            location = location[1:]
        told.append({"campo": ".".join(location) or "(cuerpo)", "problema": _in_spanish(problem)})
    return told


def validate(model: type[M], payload: object) -> M:
    if not isinstance(payload, dict):
        raise MalformedRequest("El cuerpo debe ser un objeto JSON.")
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        raise InvalidInput(
            "Datos inválidos.",
            details=problems(error.errors(include_url=False, include_input=False)),
        ) from None


LIKE_ESCAPE = "\\"


def contains_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, its own ``%`` and ``_`` taken literally
    (use with ``escape=LIKE_ESCAPE``): a search for "50%" finds "50%", not everything."""
    escaped = (
        text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )
    return f"%{escaped}%"


UNSTORABLE = "\x00"  # no database here can store it in text (PostgreSQL refuses it)


def unstorable_at(value: object, where: str = "") -> str | None:
    """Where in a request's data (query values, a JSON document, form fields) a character
    the databases cannot store appears, as "campo.sub", or None."""
    if isinstance(value, str):
        return where or "(cuerpo)" if UNSTORABLE in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = unstorable_at(str(key), where) or unstorable_at(
                item, f"{where}.{key}" if where else str(key)
            )
            if found:
                return found
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = unstorable_at(item, f"{where}.{index}" if where else str(index))
            if found:
                return found
    return None
