"""Secrets: the database passwords and the demo accounts' seed (the token keys, one pair
per issuing service, are core.keys').

Locally they are made at the first ``medsys up`` and kept in one JSON file that only root
(or, not as root, its owner) reads; each service account gets its own file beside it with
only what its processes need (``core.accounts.secrets_of``): clinical's processes can read
clinical's database password and nothing else. In containers they come from the
environment (docker-compose hands each service only its own). Weak values, such as the
``change-me`` placeholders of ``.env.example``, are refused. Nothing secret is committed.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets as token_source
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType

from medsys.core.settings import Settings
from medsys.core.topology import PAIRS

MINIMUM_SECRET_LENGTH = 16
PLACEHOLDER_PREFIX = "change-me"


class SecretsMissingError(RuntimeError):
    """The system was never brought up here, or a secret is weak."""


class SecretNotHeldError(PermissionError):
    """This process was not given that secret (it belongs to another service)."""


def _names() -> dict[str, str]:
    """Secret name -> environment variable (the names .env.example documents)."""
    names = {
        "admin_password": "MEDSYS_DB_ADMIN_PASSWORD",
        "replication_password": "MEDSYS_DB_REPLICATION_PASSWORD",
        "demo_seed": "MEDSYS_DEMO_SEED",
        # The journey prober's (medsys.sla): its database account on every pair, which
        # may write only its own heartbeat table, and its synthetic patient's portal login.
        "probe_db_password": "MEDSYS_PROBE_DB_PASSWORD",
        "probe_portal_password": "MEDSYS_PROBE_PORTAL_PASSWORD",
        # Encrypts the backup repositories (medsys.backups); kept here, never beside them.
        "backup_key": "MEDSYS_BACKUP_KEY",
    }
    for pair in PAIRS:
        names[f"app_password_{pair.name}"] = f"MEDSYS_DB_APP_PASSWORD_{pair.name.upper()}"
        names[f"owner_password_{pair.name}"] = f"MEDSYS_DB_OWNER_PASSWORD_{pair.name.upper()}"
    return names


SECRET_ENVIRONMENT: Mapping[str, str] = MappingProxyType(_names())


class Secrets:
    """Some or all of the secrets; asking for one this process was not given raises."""

    def __init__(self, values: Mapping[str, str]) -> None:
        unknown = set(values) - set(SECRET_ENVIRONMENT)
        if unknown:
            raise SecretsMissingError(f"unknown secrets: {', '.join(sorted(unknown))}")
        self._values = {name: value for name, value in values.items() if value}

    def _get(self, name: str) -> str:
        try:
            return self._values[name]
        except KeyError:
            raise SecretNotHeldError(f"this process holds no {name}") from None

    @property
    def admin_password(self) -> str:
        return self._get("admin_password")

    @property
    def replication_password(self) -> str:
        return self._get("replication_password")

    @property
    def demo_seed(self) -> str:
        return self._get("demo_seed")

    @property
    def probe_db_password(self) -> str:
        return self._get("probe_db_password")

    @property
    def probe_portal_password(self) -> str:
        return self._get("probe_portal_password")

    @property
    def backup_key(self) -> str:
        return self._get("backup_key")

    def app_password(self, pair: str) -> str:
        return self._get(f"app_password_{pair}")

    def owner_password(self, pair: str) -> str:
        return self._get(f"owner_password_{pair}")

    def names(self) -> frozenset[str]:
        return frozenset(self._values)

    def only(self, names: Iterable[str]) -> Secrets:
        return Secrets({name: self._values[name] for name in names if name in self._values})

    def as_dict(self) -> dict[str, str]:
        return dict(self._values)


def weakness(name: str, value: str) -> str | None:
    """Why ``value`` is not good enough for secret ``name``, or None."""
    if value.lower().startswith(PLACEHOLDER_PREFIX):
        return f"{name} is still the placeholder of .env.example"
    if len(value) < MINIMUM_SECRET_LENGTH:
        return f"{name} must be at least {MINIMUM_SECRET_LENGTH} characters"
    if len(set(value)) < 6:
        return f"{name} repeats too few characters to be secret"
    return None


def _refuse_weak(values: Mapping[str, str], label: Mapping[str, str]) -> None:
    problems = [
        found for name, value in values.items() if value and (found := weakness(label[name], value))
    ]
    if problems:
        raise SecretsMissingError("; ".join(problems))


def _path(settings: Settings) -> Path:
    return settings.secrets_dir / "secrets.json"


def view_path(settings: Settings, account: str) -> Path:
    """The file of one service account: only the secrets its processes need."""
    return settings.secrets_dir / "for" / f"{account}.json"


def write_private(path: Path, text: str, mode: int = 0o600, owner: int | None = None) -> None:
    """Write a file that holds a secret: created with ``mode`` (never world-readable for
    an instant), given to ``owner`` before it is renamed into place."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.chmod(mode)
        if owner is not None and os.geteuid() == 0:
            os.chown(temporary, owner, -1)
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _fresh() -> dict[str, str]:
    return {name: token_source.token_urlsafe(24) for name in SECRET_ENVIRONMENT}


def ensure_secrets(settings: Settings) -> Secrets:
    """The full set, made where missing (a file of an older version gains the new ones)."""
    path = _path(settings)
    folder = settings.secrets_dir
    folder.mkdir(parents=True, exist_ok=True)
    # Service accounts walk through to their own file; they cannot list the folder.
    folder.chmod(0o711)
    stored: dict[str, str] = {}
    if path.exists():
        stored = _read(path)
    given = secrets_from_environment(os.environ)  # an operator's own values win
    made = {**_fresh(), **stored, **(given.as_dict() if given else {})}
    if made != stored:
        write_private(path, json.dumps(made), 0o600)
    return Secrets(made)


def write_account_views(
    settings: Settings, secrets: Secrets, accounts: Mapping[str, Iterable[str]]
) -> None:
    """One file per service account (name -> the secret names it gets), owned by it, 0400."""
    folder = settings.secrets_dir / "for"
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o711)
    for account, names in accounts.items():
        owner = pwd.getpwnam(account).pw_uid if os.geteuid() == 0 else None
        view = secrets.only(names)
        write_private(view_path(settings, account), json.dumps(view.as_dict()), 0o400, owner)


def _read(path: Path) -> dict[str, str]:
    try:
        stored = json.loads(path.read_text())
    except (ValueError, TypeError) as error:
        raise SecretsMissingError(f"{path} is damaged ({error}); it is not rewritten") from None
    # Fields of earlier versions (one password for every application) are left out.
    return {name: str(stored[name]) for name in SECRET_ENVIRONMENT if stored.get(name)}


def secrets_from_environment(environ: Mapping[str, str]) -> Secrets | None:
    """The secrets given in the environment, None when none is. In containers each service
    is given only its own, so any subset is accepted; a weak value is refused."""
    given = {name: environ.get(variable, "") for name, variable in SECRET_ENVIRONMENT.items()}
    given = {name: value for name, value in given.items() if value}
    if not given:
        return None
    _refuse_weak(given, SECRET_ENVIRONMENT)
    return Secrets(given)


def load_secrets(settings: Settings) -> Secrets:
    """The environment's secrets if any; else the full file where this process may read it
    (root, or everything running as one user); else this account's own file."""
    from_environment = secrets_from_environment(os.environ)
    if from_environment is not None:
        return from_environment
    path = _path(settings)
    if path.exists() and os.access(path, os.R_OK):
        return Secrets(_read(path))
    own = view_path(settings, pwd.getpwuid(os.geteuid()).pw_name)
    if own.exists() and os.access(own, os.R_OK):
        return Secrets(_read(own))
    raise SecretsMissingError(f"no secrets for this process at {path}: run `medsys up` first")
