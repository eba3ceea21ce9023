"""When a login must be refused before the password is even checked. Pure: counts in,
a decision out. Both the account and the address are limited, so guessing one patient's
password from many addresses, or many patients' from one address, is slowed alike."""

from __future__ import annotations

from dataclasses import dataclass

WINDOW_SECONDS = 15 * 60
ACCOUNT_LIMIT = 5  # failures for one RUT within the window
ADDRESS_LIMIT = 20  # failures from one address within the window


@dataclass(frozen=True)
class Attempts:
    account_failures: int
    address_failures: int


def locked_out(attempts: Attempts) -> str | None:
    """The reason to refuse (in Spanish), or None to go on and check the password."""
    if attempts.account_failures >= ACCOUNT_LIMIT:
        return "Demasiados intentos fallidos para esta cuenta. Intente nuevamente en 15 minutos."
    if attempts.address_failures >= ADDRESS_LIMIT:
        return "Demasiados intentos fallidos desde esta conexión. Intente nuevamente en 15 minutos."
    return None
