"""Password hashing with argon2id (argon2-cffi's defaults follow RFC 9106).

``MEDSYS_PASSWORD_HASHING=cheapest-for-tests`` swaps in argon2-cffi's CHEAPEST profile,
which its authors name as useful only for testing: the test systems log in hundreds of
times, and each standard hash costs ~0.2 s of CPU on two shared cores (Django's test
settings swap their hasher for the same reason). Every hash records its own parameters,
so a hash made under one profile still verifies under the other.
"""

from __future__ import annotations

import functools

from argon2 import Parameters, PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

from medsys.core.settings import password_hashing

PARAMETERS: dict[str, Parameters] = {
    "standard": profiles.RFC_9106_LOW_MEMORY,
    "cheapest-for-tests": profiles.CHEAPEST,
}


@functools.cache
def _hasher() -> PasswordHasher:
    return PasswordHasher.from_parameters(PARAMETERS[password_hashing()])


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the account does not exist, so the timing is the same. Made
    on first use: an argon2 hash costs ~0.1 s, paid by every process that imported this
    module (each CLI call, each monitor) when it was made at import."""
    return _hasher().hash("medsys-no-such-account")


def warm() -> None:
    """Make the dummy hash now: a serving process calls this at start, so its first
    login for an unknown account takes as long as every other login."""
    _dummy_hash()


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def rehashed(stored_hash: str, password: str) -> str | None:
    """A new hash of a password just verified against ``stored_hash``, when that hash was
    made with other parameters than the profile in use (an older or another profile):
    argon2-cffi's advice, so stored hashes follow the parameters a clinic runs with."""
    if not _hasher().check_needs_rehash(stored_hash):
        return None
    return _hasher().hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher().verify(stored_hash or _dummy_hash(), password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False
