"""What every service reads off a request the same way, in one place: a patient's RUT (in a
path, a query or a model's field), the Idempotency-Key header, and the request id that ties
a request's log lines and audit rows together across services."""

from __future__ import annotations

import re
import uuid
from typing import Annotated

from pydantic import AfterValidator

from medsys.core.errors import InvalidInput, MalformedRequest
from medsys.core.rut import InvalidRutError, normalize_rut

KEY_LENGTHS = range(8, 65)
KEY_MISSING = "Falta la cabecera Idempotency-Key (8 a 64 caracteres)."
# Ids from callers are logged and written into audit rows: short and plain, or ours.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def rut_of(text: str) -> str:
    """A RUT from a path or a query: the canonical form, or a 422 saying what is wrong."""
    try:
        return normalize_rut(text)
    except InvalidRutError as error:
        raise InvalidInput(str(error)) from None


def _rut_field(value: str) -> str:
    try:
        return normalize_rut(value)
    except InvalidRutError as error:
        raise ValueError(str(error)) from None  # pydantic reports it as the field's error


# A model's RUT field: any usual spelling in, the canonical form out.
Rut = Annotated[str, AfterValidator(_rut_field)]


def idempotency_key_of(header: str | None) -> str:
    """The Idempotency-Key a write must carry, or a 400: without it a repeated request
    could not be told from a new one."""
    key = (header or "").strip()
    if len(key) not in KEY_LENGTHS:
        raise MalformedRequest(KEY_MISSING)
    return key


def request_id_of(header: str | None) -> str:
    """The caller's X-Request-ID when it is a plain id, else a new one."""
    given = (header or "").strip()
    return given if _REQUEST_ID.match(given) else uuid.uuid4().hex
