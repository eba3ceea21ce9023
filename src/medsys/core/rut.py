"""Chilean RUT parsing and mod-11 check-digit validation.

Accepts ``12.345.678-5``, ``12345678-5``, ``123456785`` and a ``k``/``K`` check digit; the
canonical form is digits without dots or leading zeros, a hyphen and an upper-case check
digit (``12345678-5``). Messages are in Spanish: staff and patients read them.
"""

from __future__ import annotations

import re

_SHAPE = re.compile(r"^(\d{1,3}(?:\.\d{3})*|\d+)-?([\dkK])$")
MAX_BODY = 99_999_999
MAX_TEXT = 14  # '99.999.999-9' plus a little slack


class InvalidRutError(ValueError):
    """The text is not a valid RUT; ``str()`` is a message for a person."""


def check_digit(body: int) -> str:
    """The mod-11 verifier of a RUT body: '0'-'9' or 'K'."""
    total, factor = 0, 2
    while body > 0:
        total += (body % 10) * factor
        body //= 10
        factor = 2 if factor == 7 else factor + 1
    remainder = 11 - total % 11
    if remainder == 11:
        return "0"
    if remainder == 10:
        return "K"
    return str(remainder)


def normalize_rut(text: str) -> str:
    """The canonical ``NNNNNNNN-D`` form, or InvalidRutError saying what is wrong."""
    if not isinstance(text, str):
        raise InvalidRutError("El RUT debe ser un texto, por ejemplo 12.345.678-5.")
    compact = text.strip().replace(" ", "")
    if len(compact) > MAX_TEXT:  # before int(): Python refuses over 4300 digits anyway
        raise InvalidRutError("El RUT es demasiado largo: use por ejemplo 12.345.678-5.")
    match = _SHAPE.match(compact)
    if not match:
        raise InvalidRutError(
            f"'{text}' no tiene forma de RUT: use por ejemplo 12.345.678-5 o 12345678-5."
        )
    body = int(match.group(1).replace(".", ""))
    given = match.group(2).upper()
    if body == 0 or body > MAX_BODY:
        raise InvalidRutError(f"'{text}' no es un RUT válido: el número está fuera de rango.")
    expected = check_digit(body)
    if given != expected:
        raise InvalidRutError(
            f"'{text}' no es un RUT válido: el dígito verificador no corresponde."
        )
    return f"{body}-{expected}"


def is_valid_rut(text: str) -> bool:
    try:
        normalize_rut(text)
    except InvalidRutError:
        return False
    return True
