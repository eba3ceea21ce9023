"""Secrets: the database passwords and the demo accounts' seed (the token keys, one pair
per issuing service, are core.keys').

Locally they are made at the first ``medsys up`` and kept in one JSON file readable only by
its owner. In containers they come from the environment (docker-compose reads them from an
``.env`` file): all of ``SECRET_ENVIRONMENT`` set means the file is not used. Nothing secret
is ever committed.
"""

from __future__ import annotations

import json
import os
import secrets as token_source
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from medsys.core.settings import Settings


class SecretsMissingError(RuntimeError):
    """The system was never brought up here: there is no secrets file."""


@dataclass(frozen=True)
class Secrets:
    admin_password: str  # medsys_admin: launcher and monitors (promotion needs privileges)
    replication_password: str
    app_password: str  # one per system is enough: each app user only sees its own schema
    demo_seed: str = ""  # derives each demo account's own password (core.demo_logins)


# Secrets field -> environment variable (the names .env.example documents).
SECRET_ENVIRONMENT = {
    "admin_password": "MEDSYS_DB_ADMIN_PASSWORD",
    "replication_password": "MEDSYS_DB_REPLICATION_PASSWORD",
    "app_password": "MEDSYS_DB_APP_PASSWORD",
    "demo_seed": "MEDSYS_DEMO_SEED",
}
MINIMUM_SECRET_LENGTH = 12


def _path(settings: Settings) -> Path:
    return settings.secrets_dir / "secrets.json"


def _fresh() -> Secrets:
    return Secrets(
        admin_password=token_source.token_urlsafe(24),
        replication_password=token_source.token_urlsafe(24),
        app_password=token_source.token_urlsafe(24),
        demo_seed=token_source.token_urlsafe(24),
    )


def ensure_secrets(settings: Settings) -> Secrets:
    path = _path(settings)
    if path.exists():
        current = load_secrets(settings)
        if current.demo_seed:
            return current
        made = Secrets(**{**asdict(current), "demo_seed": _fresh().demo_seed})
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.parent.chmod(0o700)
        made = _fresh()
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(asdict(made), handle)
    temporary.replace(path)
    return made


def secrets_from_environment(environ: Mapping[str, str]) -> Secrets | None:
    """The secrets given in the environment, None when none is; a partial or weak set is
    refused rather than mixed with the file."""
    given = {field: environ.get(name, "") for field, name in SECRET_ENVIRONMENT.items()}
    if not any(given.values()):
        return None
    missing = [SECRET_ENVIRONMENT[f] for f, value in given.items() if not value]
    if missing:
        raise SecretsMissingError(f"set every secret or none; missing: {', '.join(missing)}")
    short = [
        SECRET_ENVIRONMENT[f] for f, value in given.items() if len(value) < MINIMUM_SECRET_LENGTH
    ]
    if short:
        raise SecretsMissingError(
            f"{', '.join(short)} must be at least {MINIMUM_SECRET_LENGTH} characters"
        )
    return Secrets(**given)


def load_secrets(settings: Settings) -> Secrets:
    from_environment = secrets_from_environment(os.environ)
    if from_environment is not None:
        return from_environment
    path = _path(settings)
    if not path.exists():
        raise SecretsMissingError(f"no secrets at {path}: run `medsys up` first")
    try:
        stored = json.loads(path.read_text())
        # Fields of earlier versions (one shared token key, one demo password) are left out.
        known = {name: stored[name] for name in SECRET_ENVIRONMENT if name in stored}
        return Secrets(**known)
    except (ValueError, TypeError) as error:
        raise SecretsMissingError(f"{path} is damaged ({error}); it is not rewritten") from None
