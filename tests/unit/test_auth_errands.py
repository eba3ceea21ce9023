"""Narrowed tokens (tokens.Scope) at the door every service shares (core.auth.caller_of):
good only where a route names their errand, and such a route takes nothing else."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from medsys.core.auth import NARROWED, Verifier, caller_of
from medsys.core.errors import Forbidden
from medsys.core.tokens import Keyring, Role, Scope, Service, SigningKey

PORTAL = SigningKey(Service.PORTAL, Ed25519PrivateKey.generate())
VERIFIER = Verifier(
    Service.MIDDLEWARE, Keyring({Service.PORTAL: [PORTAL.private_key.public_key()]})
)
RUT = "11111111-1"


def headers(scope: Scope | None) -> dict[str, str]:
    token = PORTAL.issue(Role.PATIENT, RUT, audience=Service.MIDDLEWARE, scope=scope)
    return {"Authorization": f"Bearer {token}"}


def test_a_narrowed_token_is_refused_by_every_route_that_does_not_name_its_errand() -> None:
    with pytest.raises(Forbidden, match=NARROWED):
        caller_of(headers(Scope.ACCOUNT_LINK), VERIFIER, (Role.PATIENT,))


def test_the_errands_route_takes_it_and_no_ordinary_token() -> None:
    caller = caller_of(
        headers(Scope.ACCOUNT_LINK), VERIFIER, (Role.PATIENT,), errand=Scope.ACCOUNT_LINK
    )
    assert caller.patient == RUT and caller.who == "portal"
    with pytest.raises(Forbidden):
        caller_of(headers(None), VERIFIER, (Role.PATIENT,), errand=Scope.ACCOUNT_LINK)


def test_an_ordinary_token_is_unchanged() -> None:
    caller = caller_of(headers(None), VERIFIER, (Role.PATIENT,))
    assert caller.patient == RUT and caller.who == RUT
