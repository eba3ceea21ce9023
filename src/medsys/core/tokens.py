"""Bearer tokens: EdDSA (Ed25519) JWTs, one key pair per issuing service.

Who may say what is fixed here and nowhere else:

- each service signs with its own private key and grants only its own roles (``GRANTS``):
  clinical makes doctors and nurses, admin clerks and accountants, the portal patients,
  the middleware services. A verifier refuses a role its issuer may not grant, so the
  portal's key can never make a doctor;
- every token names the one service it is for (``aud``), expires (at most 15 minutes after
  it was made), and has an id (``jti``);
- a service token says whom it acts for in a signed ``act`` claim (subject, role, issuer of
  the original caller), never in a header; a patient named there is the only patient whose
  records that token reaches;
- a token may carry a ``scp`` (``Scope``) that narrows it to one errand: the portal's
  lookup for an account link is made before anyone logged in, so its token names the
  patient whose registry entry is looked up but is refused everywhere except that one
  lookup (``core.auth``), and audit rows name the portal, not the patient;
- only ``EdDSA`` is accepted, so ``alg=none`` and HS256 signed with a public key are refused
  before any signature is looked at.

A patient's subject is the normalised RUT, so "a patient sees only their own records" is a
comparison of two canonical strings.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from medsys.core.rut import InvalidRutError, normalize_rut

ALGORITHM = "EdDSA"
MAX_LIFETIME = timedelta(minutes=15)  # access tokens; longer use goes through a session
DEFAULT_LIFETIME = MAX_LIFETIME
RELAY_LIFETIME = timedelta(seconds=60)  # tokens that act for someone else
_CLOCK_SKEW = 5  # seconds of leeway between processes' clocks


class Role(StrEnum):
    DOCTOR = "doctor"
    NURSE = "nurse"
    CLERK = "clerk"
    ACCOUNTANT = "accountant"
    PATIENT = "patient"
    SERVICE = "service"


class Service(StrEnum):
    """The services that issue tokens and the audiences tokens are for."""

    CLINICAL = "clinical"
    ADMIN = "admin"
    PORTAL = "portal"
    MIDDLEWARE = "middleware"


class Scope(StrEnum):
    """Errands a token may be narrowed to; a narrowed token is good for nothing else."""

    # Before login: the portal asks admin's registry for the name and e-mail address on
    # file of a RUT typed on "¿Olvidó su contraseña?" or "Cree su cuenta", to mail a link.
    ACCOUNT_LINK = "account-link"


GRANTS: Mapping[Service, frozenset[Role]] = {
    Service.CLINICAL: frozenset({Role.DOCTOR, Role.NURSE}),
    Service.ADMIN: frozenset({Role.CLERK, Role.ACCOUNTANT}),
    Service.PORTAL: frozenset({Role.PATIENT}),
    Service.MIDDLEWARE: frozenset({Role.SERVICE}),
}
STAFF_ROLES = frozenset({Role.DOCTOR, Role.NURSE, Role.CLERK, Role.ACCOUNTANT})


def issuer_of(role: Role) -> Service:
    return next(issuer for issuer, roles in GRANTS.items() if role in roles)


class InvalidTokenError(ValueError):
    """Missing, expired, tampered with, not for this service, or not ours."""


def parse_role(text: str) -> Role:
    """A role exactly as written: ``Patient`` or ``PATIENT`` is not ``patient``."""
    try:
        return Role(text)
    except ValueError:
        names = ", ".join(role.value for role in Role)
        raise ValueError(f"unknown role {text!r}; roles are: {names}") from None


def parse_service(text: str) -> Service:
    try:
        return Service(text)
    except ValueError:
        names = ", ".join(service.value for service in Service)
        raise ValueError(f"unknown service {text!r}; services are: {names}") from None


def _canonical_subject(role: Role, subject: str) -> str:
    subject = normalize_rut(subject) if role is Role.PATIENT else subject.strip()
    if not subject or len(subject) > 64:
        raise ValueError("a token needs a subject of 1 to 64 characters")
    return subject


@dataclass(frozen=True)
class Actor:
    """The original caller a service token acts for."""

    subject: str
    role: Role
    issuer: Service

    def as_claim(self) -> dict[str, str]:
        return {"sub": self.subject, "role": self.role.value, "iss": self.issuer.value}

    @classmethod
    def from_claim(cls, claim: Any) -> Actor:
        if not isinstance(claim, dict) or set(claim) != {"sub", "role", "iss"}:
            raise InvalidTokenError("malformed 'act' claim")
        role, issuer = parse_role(str(claim["role"])), parse_service(str(claim["iss"]))
        if role is Role.SERVICE or role not in GRANTS[issuer]:
            raise InvalidTokenError(f"{issuer.value} cannot vouch for a {role.value}")
        return cls(_canonical_subject(role, str(claim["sub"])), role, issuer)


@dataclass(frozen=True)
class Claims:
    issuer: Service
    audience: Service
    subject: str
    role: Role
    issued_at: datetime
    expires_at: datetime
    token_id: str
    session_id: str | None = None
    acting_for: Actor | None = None
    scope: Scope | None = None

    @property
    def person(self) -> str:
        """The person the call is about: its subject, or whom a service acts for."""
        return self.acting_for.subject if self.acting_for else self.subject

    @property
    def who(self) -> str:
        """The one an audit row names: the person, or for a narrowed token (nobody has
        logged in) the service that vouched for the errand."""
        if self.scope is not None:
            return (self.acting_for.issuer if self.acting_for else self.issuer).value
        return self.person

    @property
    def audited_role(self) -> Role:
        """The role an audit row names, beside ``who``."""
        return Role.SERVICE if self.scope is not None else self.acting_role

    @property
    def acting_role(self) -> Role:
        return self.acting_for.role if self.acting_for else self.role

    @property
    def patient(self) -> str | None:
        """The one patient this token is confined to, if it speaks for a patient."""
        return self.person if self.acting_role is Role.PATIENT else None

    @property
    def chain(self) -> str | None:
        """The services a relayed call crossed, e.g. ``portal>middleware``."""
        if self.acting_for is None:
            return None
        return f"{self.acting_for.issuer.value}>{self.issuer.value}"


def _may_narrow(role: Role, acting_for: Actor | None) -> bool:
    """Only the portal's errands exist: a patient token, or the middleware relaying one."""
    person_role = acting_for.role if acting_for is not None else role
    return person_role is Role.PATIENT


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.urlsafe_b64encode(hashlib.sha256(raw).digest()[:9]).decode()


@dataclass(frozen=True)
class SigningKey:
    """One service's private key: it signs only tokens that service may issue."""

    issuer: Service
    private_key: Ed25519PrivateKey
    kid: str = field(default="")

    def __post_init__(self) -> None:
        if not self.kid:
            object.__setattr__(self, "kid", key_id(self.private_key.public_key()))

    def issue(
        self,
        role: Role,
        subject: str,
        *,
        audience: Service,
        lifetime: timedelta = DEFAULT_LIFETIME,
        acting_for: Actor | None = None,
        session_id: str | None = None,
        scope: Scope | None = None,
        now: datetime | None = None,
    ) -> str:
        if role not in GRANTS[self.issuer]:
            raise ValueError(f"{self.issuer.value} cannot issue a {role.value} token")
        if scope is not None and not _may_narrow(role, acting_for):
            raise ValueError("only a patient's token, or one relaying it, may be narrowed")
        if not timedelta(0) < lifetime <= MAX_LIFETIME:
            raise ValueError(f"a token lives at most {MAX_LIFETIME}")
        if (acting_for is not None) != (role is Role.SERVICE):
            raise ValueError("a service token, and only one, must say whom it acts for")
        issued = now or datetime.now(UTC)
        payload: dict[str, Any] = {
            "iss": self.issuer.value,
            "aud": audience.value,
            "sub": _canonical_subject(role, subject),
            "role": role.value,
            "iat": int(issued.timestamp()),
            "exp": int((issued + lifetime).timestamp()),
            "jti": uuid.uuid4().hex,
        }
        if acting_for is not None:
            payload["act"] = acting_for.as_claim()
        if session_id is not None:
            payload["sid"] = session_id
        if scope is not None:
            payload["scp"] = scope.value
        return jwt.encode(payload, self.private_key, algorithm=ALGORITHM, headers={"kid": self.kid})


class Keyring:
    """The public keys one service trusts, by issuer; two per issuer during a rotation."""

    def __init__(self, trusted: Mapping[Service, Iterable[Ed25519PublicKey]]) -> None:
        self._keys: dict[tuple[Service, str], Ed25519PublicKey] = {
            (issuer, key_id(key)): key for issuer, keys in trusted.items() for key in keys
        }

    @property
    def issuers(self) -> frozenset[Service]:
        return frozenset(issuer for issuer, _ in self._keys)

    def key_for(self, issuer: Service, kid: str) -> Ed25519PublicKey:
        try:
            return self._keys[(issuer, kid)]
        except KeyError:
            raise InvalidTokenError(f"no trusted key {kid!r} of {issuer.value}") from None


_REQUIRED = ["exp", "iat", "sub", "iss", "aud", "jti"]


def verify_token(
    keyring: Keyring, token: str, *, audience: Service, now: datetime | None = None
) -> Claims:
    """The token's claims, or InvalidTokenError saying why it is refused."""
    try:
        # Read once unverified only to pick the issuer's key; nothing here is trusted yet.
        unverified = jwt.decode_complete(token, options={"verify_signature": False})
        header = unverified["header"]
        if header.get("alg") != ALGORITHM:
            raise InvalidTokenError(f"algorithm {header.get('alg')!r} is not accepted")
        issuer = parse_service(str(unverified["payload"].get("iss")))
        public_key = keyring.key_for(issuer, str(header.get("kid")))
        payload = jwt.decode(
            token,
            public_key,
            algorithms=[ALGORITHM],
            audience=audience.value,
            issuer=issuer.value,
            leeway=_CLOCK_SKEW,
            options={"require": _REQUIRED, "verify_exp": now is None},
        )
        return _claims(payload, issuer, audience, now)
    except InvalidTokenError:
        raise
    except (jwt.PyJWTError, KeyError, TypeError, ValueError, InvalidRutError) as error:
        raise InvalidTokenError(f"invalid token: {error}") from None


def _claims(
    payload: dict[str, Any], issuer: Service, audience: Service, now: datetime | None
) -> Claims:
    role = parse_role(str(payload.get("role")))
    if role not in GRANTS[issuer]:
        raise InvalidTokenError(f"{issuer.value} cannot issue a {role.value} token")
    issued = datetime.fromtimestamp(int(payload["iat"]), UTC)
    expires = datetime.fromtimestamp(int(payload["exp"]), UTC)
    if expires - issued > MAX_LIFETIME:
        raise InvalidTokenError("token lives longer than any token may")
    if now is not None and now >= expires:
        raise InvalidTokenError("token expired")
    acting_for = Actor.from_claim(payload["act"]) if "act" in payload else None
    if (acting_for is not None) != (role is Role.SERVICE):
        raise InvalidTokenError("only a service token says whom it acts for, and it must")
    if acting_for is not None and expires - issued > RELAY_LIFETIME:
        raise InvalidTokenError("a relayed token lives at most a minute")
    session = payload.get("sid")
    scope = _scope(payload.get("scp"))
    if scope is not None and not _may_narrow(role, acting_for):
        raise InvalidTokenError("only a patient's token, or one relaying it, may be narrowed")
    return Claims(
        issuer=issuer,
        audience=audience,
        subject=_canonical_subject(role, str(payload["sub"])),
        role=role,
        issued_at=issued,
        expires_at=expires,
        token_id=str(payload["jti"]),
        session_id=str(session) if session is not None else None,
        acting_for=acting_for,
        scope=scope,
    )


def _scope(claim: Any) -> Scope | None:
    if claim is None:
        return None
    try:
        return Scope(str(claim))
    except ValueError:
        raise InvalidTokenError(f"unknown scope {claim!r}") from None


def bearer_token(authorization_header: str | None) -> str:
    """The token of an ``Authorization: Bearer ...`` header."""
    if not authorization_header:
        raise InvalidTokenError("missing Authorization header")
    scheme, _, token = authorization_header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidTokenError("Authorization must be 'Bearer <token>'")
    return token.strip()


class VerifiedTokens:
    """The claims of tokens already verified for one audience, kept until they expire.
    The portal and the middleware reuse a token for half its minute (``TokenCache``), and
    checking its Ed25519 signature again on every request was a tenth of the middleware's
    CPU. Only a token that verified is kept: a refused one is checked each time it comes.
    Nothing else can change a verified token's answer: the keyring is fixed for the life
    of the process, and sessions are checked apart, on every request."""

    def __init__(
        self,
        keyring: Keyring,
        audience: Service,
        *,
        limit: int = 4096,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keyring = keyring
        self._audience = audience
        self._limit = limit
        self._clock = clock
        self._claims: dict[str, Claims] = {}

    def claims(self, token: str) -> Claims:
        known = self._claims.get(token)
        if known is not None and self._clock() < known.expires_at.timestamp() + _CLOCK_SKEW:
            return known
        self._claims.pop(token, None)  # expired: verify_token says so, as it always did
        claims = verify_token(self._keyring, token, audience=self._audience)
        if len(self._claims) >= self._limit:
            self._claims.clear()
        self._claims[token] = claims
        return claims


class TokenCache:
    """Short-lived tokens re-minted at half their life, one per (audience, role, subject,
    actor): signing one for every request was measurable on every page. Bounded, so a
    stream of distinct patients cannot grow it without end."""

    def __init__(self, signer: SigningKey, *, lifetime: timedelta, limit: int = 4096) -> None:
        self._signer = signer
        self._lifetime = lifetime
        self._limit = limit
        self._tokens: dict[tuple[Any, ...], tuple[str, float]] = {}

    def token(
        self,
        role: Role,
        subject: str,
        *,
        audience: Service,
        acting_for: Actor | None = None,
        scope: Scope | None = None,
    ) -> str:
        key = (audience, role, subject, acting_for, scope)
        cached = self._tokens.get(key)
        if cached is not None and time.monotonic() < cached[1]:
            return cached[0]
        if len(self._tokens) >= self._limit:
            self._tokens.clear()
        token = self._signer.issue(
            role,
            subject,
            audience=audience,
            lifetime=self._lifetime,
            acting_for=acting_for,
            scope=scope,
        )
        self._tokens[key] = (token, time.monotonic() + self._lifetime.total_seconds() / 2)
        return token
