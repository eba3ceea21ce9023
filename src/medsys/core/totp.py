"""Second factor codes (RFC 6238 through pyotp), each accepted once.

A code is matched against the time steps around now (one either side for clock drift),
and the step it matched is returned so the caller can refuse it from then on: a code seen
over a shoulder, or sent twice, does not open a second session.
"""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp

DRIFT_STEPS = 1


def matching_step(secret: str, code: str, *, now: datetime, last_used: int | None) -> int | None:
    """The time step ``code`` belongs to, if it is valid now and newer than ``last_used``."""
    code = code.strip()
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        expected = totp.generate_otp(step)
        if hmac.compare_digest(expected, code):
            return step if last_used is None or step > last_used else None
    return None


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, *, account: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name="medsys")
