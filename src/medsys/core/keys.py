"""Where each service's signing key and the public keys it trusts come from.

Locally ``medsys up`` makes one Ed25519 key pair per issuing service under
``<state>/secrets/keys/``: ``<service>.key`` (the private key, mode 0600) and
``<service>.pub`` (its public keys, one per line, newest first; two during a rotation).
A process loads only its own private key and the public keys of the issuers it trusts.
In containers the same come from the environment: ``MEDSYS_SIGNING_KEY_<SERVICE>`` and
``MEDSYS_PUBLIC_KEYS_<SERVICE>`` (comma-separated), one env file per app made by
``medsys keys env --write`` (docker-compose hands each app only its own file).
Keys are the raw 32 bytes in unpadded base64url.
"""

from __future__ import annotations

import base64
import os
import pwd
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from medsys.core.accounts import Part, account_name
from medsys.core.secrets import write_private
from medsys.core.settings import Settings
from medsys.core.tokens import (
    MAX_LIFETIME,
    RELAY_LIFETIME,
    Actor,
    Keyring,
    Role,
    Service,
    SigningKey,
    issuer_of,
    key_id,
)

# Whose tokens each service accepts. The apps take their own staff and the middleware's
# relayed calls; the middleware takes patients (from the portal) and staff; the portal
# its own patients' tokens (the seed's POST /api/appointments) and admin's, for the one
# thing the front office does there: a clerk removes a patient's lost second factor.
TRUSTS: Mapping[Service, frozenset[Service]] = {
    Service.CLINICAL: frozenset({Service.CLINICAL, Service.MIDDLEWARE}),
    Service.ADMIN: frozenset({Service.ADMIN, Service.MIDDLEWARE}),
    Service.MIDDLEWARE: frozenset({Service.PORTAL, Service.CLINICAL, Service.ADMIN}),
    Service.PORTAL: frozenset({Service.PORTAL, Service.ADMIN}),
}
KEPT_PUBLIC_KEYS = 2  # the current key and the one before it, during a rotation


class KeysMissingError(RuntimeError):
    """A key this process needs is not where it should be."""


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(text: str) -> bytes:
    text = text.strip()
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if len(raw) != 32:
        raise KeysMissingError("an Ed25519 key is 32 bytes")
    return raw


def private_text(key: Ed25519PrivateKey) -> str:
    return _encode(key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))


def public_text(key: Ed25519PublicKey) -> str:
    return _encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw))


def keys_dir(settings: Settings) -> Path:
    return settings.secrets_dir / "keys"


def _private_path(settings: Settings, service: Service) -> Path:
    return keys_dir(settings) / f"{service.value}.key"


def _public_path(settings: Settings, service: Service) -> Path:
    return keys_dir(settings) / f"{service.value}.pub"


def _signing_variable(service: Service) -> str:
    return f"MEDSYS_SIGNING_KEY_{service.value.upper()}"


def _public_variable(service: Service) -> str:
    return f"MEDSYS_PUBLIC_KEYS_{service.value.upper()}"


def _holder(settings: Settings, service: Service) -> int | None:
    """The uid of the account whose processes sign as ``service`` (as root), else None."""
    if os.geteuid() != 0:
        return None
    return pwd.getpwnam(account_name(settings, Part(service.value))).pw_uid


def ensure_keys(settings: Settings) -> list[Service]:
    """Make the key pair of every issuing service that has none; the ones made. Each
    private key belongs to its service's account: no other service can read it."""
    folder = keys_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o711)  # walked through to one's own key; never listed
    made = []
    for service in Service:
        private = _private_path(settings, service)
        if not private.exists():
            _install(settings, service, Ed25519PrivateKey.generate(), previous=[])
            made.append(service)
        elif (holder := _holder(settings, service)) is not None:
            os.chown(private, holder, -1)
            private.chmod(0o400)
    return made


def _install(
    settings: Settings, service: Service, key: Ed25519PrivateKey, previous: list[str]
) -> None:
    public = [public_text(key.public_key()), *previous][:KEPT_PUBLIC_KEYS]
    # Public file first: a verifier must know the new key before anything signs with it.
    write_private(_public_path(settings, service), "\n".join(public) + "\n", 0o644)
    write_private(
        _private_path(settings, service),
        private_text(key) + "\n",
        0o400,
        owner=_holder(settings, service),
    )


def rotate(settings: Settings, service: Service) -> str:
    """A new key pair for ``service``; the old public key stays trusted until ``retire``.
    Restart the services afterwards so signers and verifiers load the new files."""
    current = _public_lines(settings, service)
    key = Ed25519PrivateKey.generate()
    _install(settings, service, key, previous=current[:1])
    return key_id(key.public_key())


def retire(settings: Settings, service: Service) -> list[str]:
    """Stop trusting every public key of ``service`` but the current one; the ids retired."""
    lines = _public_lines(settings, service)
    write_private(_public_path(settings, service), lines[0] + "\n", 0o644)
    return [key_id(_public_key(line)) for line in lines[1:]]


def _public_lines(settings: Settings, service: Service) -> list[str]:
    path = _public_path(settings, service)
    if not path.exists():
        raise KeysMissingError(f"no public key of {service.value} at {path}: run `medsys up`")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def _public_key(text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(_decode(text))


def signing_key(
    settings: Settings, service: Service, environ: Mapping[str, str] | None = None
) -> SigningKey:
    """This service's own private key (and no other)."""
    environ = os.environ if environ is None else environ
    text = environ.get(_signing_variable(service))
    if not text:
        path = _private_path(settings, service)
        if not path.exists():
            raise KeysMissingError(
                f"no signing key of {service.value} at {path}: run `medsys up` first"
            )
        text = path.read_text()
    return SigningKey(service, Ed25519PrivateKey.from_private_bytes(_decode(text)))


def public_keys(
    settings: Settings, service: Service, environ: Mapping[str, str] | None = None
) -> list[Ed25519PublicKey]:
    environ = os.environ if environ is None else environ
    text = environ.get(_public_variable(service))
    lines = text.split(",") if text else _public_lines(settings, service)
    return [_public_key(line) for line in lines if line.strip()]


def keyring(
    settings: Settings, service: Service, environ: Mapping[str, str] | None = None
) -> Keyring:
    """The public keys of the issuers ``service`` trusts."""
    return Keyring({issuer: public_keys(settings, issuer, environ) for issuer in TRUSTS[service]})


def environment_files() -> dict[Service, str]:
    """Fresh keys for docker-compose, one env file per issuing service: its own private key
    and the public keys it trusts, nothing else (``medsys keys env --write``)."""
    made = {service: Ed25519PrivateKey.generate() for service in Service}
    files = {}
    for service, key in made.items():
        lines = [f"{_signing_variable(service)}={private_text(key)}"]
        lines += [
            f"{_public_variable(issuer)}={public_text(made[issuer].public_key())}"
            for issuer in sorted(TRUSTS[service])
        ]
        files[service] = "\n".join(lines) + "\n"
    return files


def write_environment_files(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    written = []
    for service, text in environment_files().items():
        path = folder / f"{service.value}.env"
        write_private(path, text, 0o600)
        written.append(path)
    return written


def operator_token(
    settings: Settings,
    role: Role,
    subject: str,
    *,
    audience: Service,
    lifetime: timedelta = MAX_LIFETIME,
    acting_for: Actor | None = None,
) -> str:
    """A token signed by the issuer that owns ``role``: for an operator on this machine
    (``medsys token``, benchmarks, chaos runs), who can read every service's key."""
    if role is Role.SERVICE:
        lifetime = min(lifetime, RELAY_LIFETIME)
    return signing_key(settings, issuer_of(role)).issue(
        role, subject, audience=audience, lifetime=lifetime, acting_for=acting_for
    )
