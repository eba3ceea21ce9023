"""Password hashing: the standard profile is argon2id at RFC 9106's parameters, and the
test systems' cheap profile is only ever chosen by name."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from argon2 import PasswordHasher, Type, extract_parameters, profiles

from medsys.core import passwords
from medsys.core.settings import PASSWORD_HASHING_PROFILES, SettingsError, password_hashing


@pytest.fixture
def use_profile(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Switch this process's hashing profile (core.passwords builds its hasher once)."""

    def use(name: str) -> None:
        monkeypatch.setenv("MEDSYS_PASSWORD_HASHING", name)
        passwords._hasher.cache_clear()

    yield use
    passwords._hasher.cache_clear()


def test_every_profile_name_has_its_parameters() -> None:
    assert set(passwords.PARAMETERS) == set(PASSWORD_HASHING_PROFILES)


def test_unset_means_standard_and_a_wrong_name_is_refused() -> None:
    assert password_hashing({}) == "standard"
    assert password_hashing({"MEDSYS_PASSWORD_HASHING": ""}) == "standard"
    with pytest.raises(SettingsError, match="MEDSYS_PASSWORD_HASHING"):
        password_hashing({"MEDSYS_PASSWORD_HASHING": "cheap"})


def test_the_standard_profile_is_argon2id_at_rfc_9106_parameters(
    use_profile: Callable[[str], None],
) -> None:
    use_profile("")  # unset
    stored = passwords.hash_password("clave-larga-1")
    assert extract_parameters(stored) == profiles.RFC_9106_LOW_MEMORY
    assert extract_parameters(stored).type is Type.ID
    assert passwords.verify_password(stored, "clave-larga-1")
    assert not passwords.verify_password(stored, "clave-larga-2")
    assert not passwords.verify_password(None, "clave-larga-1")


def test_a_hash_made_under_one_profile_verifies_under_the_other(
    use_profile: Callable[[str], None],
) -> None:
    use_profile("cheapest-for-tests")
    cheap = passwords.hash_password("clave-de-prueba")
    assert extract_parameters(cheap) == profiles.CHEAPEST
    use_profile("standard")
    assert passwords.verify_password(cheap, "clave-de-prueba")


def test_a_hash_of_other_parameters_is_made_anew_at_login(
    use_profile: Callable[[str], None],
) -> None:
    """A login re-hashes a password whose stored hash has other parameters than the
    profile in use, and leaves a current one alone."""
    use_profile("cheapest-for-tests")
    current = passwords.hash_password("clave-de-prueba")
    assert passwords.rehashed(current, "clave-de-prueba") is None
    older = PasswordHasher(time_cost=2, memory_cost=1024, parallelism=1).hash("clave-de-prueba")
    new = passwords.rehashed(older, "clave-de-prueba")
    assert new is not None and extract_parameters(new) == profiles.CHEAPEST
    assert passwords.verify_password(new, "clave-de-prueba")
