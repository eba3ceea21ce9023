"""Bearer tokens with roles, signed with the local secret (HS256 JWT via PyJWT).

A patient token's subject is the patient's normalised RUT, so "a patient sees only their own
records" is a comparison of two canonical strings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import jwt

from medsys.core.rut import InvalidRutError, normalize_rut

ISSUER = "medsys"
ALGORITHM = "HS256"
DEFAULT_LIFETIME = timedelta(hours=8)


class Role(StrEnum):
    DOCTOR = "doctor"
    NURSE = "nurse"
    CLERK = "clerk"
    ACCOUNTANT = "accountant"
    PATIENT = "patient"
    SERVICE = "service"


STAFF_ROLES = frozenset({Role.DOCTOR, Role.NURSE, Role.CLERK, Role.ACCOUNTANT})


class InvalidTokenError(ValueError):
    """Missing, expired, tampered with, or not ours."""


@dataclass(frozen=True)
class Claims:
    subject: str
    role: Role
    expires_at: datetime


def parse_role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        names = ", ".join(role.value for role in Role)
        raise ValueError(f"unknown role {text!r}; roles are: {names}") from None


def issue_token(
    key: str,
    role: Role,
    subject: str,
    *,
    lifetime: timedelta = DEFAULT_LIFETIME,
    now: datetime | None = None,
) -> str:
    if role is Role.PATIENT:
        subject = normalize_rut(subject)
    if not subject:
        raise ValueError("a token needs a subject")
    issued = now or datetime.now(UTC)
    payload = {
        "iss": ISSUER,
        "sub": subject,
        "role": role.value,
        "iat": int(issued.timestamp()),
        "exp": int((issued + lifetime).timestamp()),
    }
    return jwt.encode(payload, key, algorithm=ALGORITHM)


def verify_token(key: str, token: str, *, now: datetime | None = None) -> Claims:
    options: jwt.types.Options = {
        "require": ["exp", "iat", "sub", "iss"],
        "verify_exp": now is None,
    }
    try:
        payload = jwt.decode(token, key, algorithms=[ALGORITHM], issuer=ISSUER, options=options)
        role = Role(payload["role"])
        expires = datetime.fromtimestamp(int(payload["exp"]), UTC)
        if now is not None and now >= expires:
            raise InvalidTokenError("token expired")
        subject = str(payload["sub"])
        if role is Role.PATIENT:
            subject = normalize_rut(subject)
    except (jwt.PyJWTError, KeyError, ValueError, InvalidRutError) as error:
        if isinstance(error, InvalidTokenError):
            raise
        raise InvalidTokenError(f"invalid token: {error}") from None
    return Claims(subject=subject, role=role, expires_at=expires)


def bearer_token(authorization_header: str | None) -> str:
    """The token of an ``Authorization: Bearer ...`` header."""
    if not authorization_header:
        raise InvalidTokenError("missing Authorization header")
    scheme, _, token = authorization_header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidTokenError("Authorization must be 'Bearer <token>'")
    return token.strip()


SERVICE_TOKEN_LIFETIME = timedelta(hours=1)


class ServiceToken:
    """A service's own token for the services it calls, minted once and re-minted at half
    its lifetime: signing one per request was measurable on every page."""

    def __init__(self, key: str, subject: str) -> None:
        self._key = key
        self._subject = subject
        self._token = ""
        self._until = 0.0

    def __call__(self) -> str:
        if time.monotonic() >= self._until:
            self._token = issue_token(
                self._key, Role.SERVICE, self._subject, lifetime=SERVICE_TOKEN_LIFETIME
            )
            self._until = time.monotonic() + SERVICE_TOKEN_LIFETIME.total_seconds() / 2
        return self._token
