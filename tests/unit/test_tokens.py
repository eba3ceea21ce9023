"""Tokens: the whole matrix of issuer x role x audience x acting-for x expiry, and the
forgeries a verifier must refuse (alg=none, HS256 signed with a public key, unknown or
capitalised roles, a key it does not trust, a rotation)."""

from __future__ import annotations

import base64
import itertools
import json
import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from medsys.core.keys import TRUSTS
from medsys.core.tokens import (
    GRANTS,
    MAX_LIFETIME,
    RELAY_LIFETIME,
    Actor,
    InvalidTokenError,
    Keyring,
    Role,
    Scope,
    Service,
    SigningKey,
    TokenCache,
    VerifiedTokens,
    bearer_token,
    issuer_of,
    parse_role,
    verify_token,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SIGNERS = {service: SigningKey(service, Ed25519PrivateKey.generate()) for service in Service}
EVERYONE = Keyring({s: [k.private_key.public_key()] for s, k in SIGNERS.items()})
PATIENT = "11111111-1"
SUBJECTS = {Role.PATIENT: PATIENT, Role.SERVICE: "middleware"}


def keyring_of(service: Service) -> Keyring:
    return Keyring({i: [SIGNERS[i].private_key.public_key()] for i in TRUSTS[service]})


def person(role: Role) -> Actor:
    return Actor(SUBJECTS.get(role, f"{role.value}-1"), role, issuer_of(role))


def mint(
    issuer: Service,
    role: Role,
    audience: Service,
    *,
    acting_for: Actor | None = None,
    lifetime: timedelta | None = None,
) -> str:
    if lifetime is None:
        lifetime = RELAY_LIFETIME if role is Role.SERVICE else MAX_LIFETIME
    return SIGNERS[issuer].issue(
        role,
        SUBJECTS.get(role, f"{role.value}-1"),
        audience=audience,
        lifetime=lifetime,
        acting_for=acting_for,
        now=NOW,
    )


def forge(payload: dict[str, object], *, issuer: Service = Service.CLINICAL) -> str:
    """A token signed with a real key but with claims the signer's code would never write."""
    signer = SIGNERS[issuer]
    return jwt.encode(payload, signer.private_key, algorithm="EdDSA", headers={"kid": signer.kid})


def claims_of(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "iss": "clinical",
        "aud": "clinical",
        "sub": "dra.soto",
        "role": "doctor",
        "iat": int(NOW.timestamp()),
        "exp": int((NOW + timedelta(minutes=5)).timestamp()),
        "jti": "x" * 32,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


# --- the matrix -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("issuer", "role"),
    [(i, r) for i, r in itertools.product(Service, Role) if r is not Role.SERVICE],
)
def test_an_issuer_signs_only_the_roles_it_grants(issuer: Service, role: Role) -> None:
    if role in GRANTS[issuer]:
        assert mint(issuer, role, Service.MIDDLEWARE)
    else:
        with pytest.raises(ValueError, match="cannot issue"):
            mint(issuer, role, Service.MIDDLEWARE)


@pytest.mark.parametrize(
    ("issuer", "role", "audience"),
    [
        (i, r, a)
        for i, r, a in itertools.product(Service, Role, Service)
        if r in GRANTS[i] and r is not Role.SERVICE
    ],
)
def test_a_token_is_good_only_at_its_audience_and_where_its_issuer_is_trusted(
    issuer: Service, role: Role, audience: Service
) -> None:
    token = mint(issuer, role, audience)
    for verifier in Service:
        trusted = issuer in TRUSTS[verifier]
        if verifier is audience and trusted:
            claims = verify_token(keyring_of(verifier), token, audience=verifier, now=NOW)
            assert (claims.issuer, claims.role, claims.audience) == (issuer, role, verifier)
            assert claims.patient == (PATIENT if role is Role.PATIENT else None)
        else:
            with pytest.raises(InvalidTokenError):
                verify_token(keyring_of(verifier), token, audience=verifier, now=NOW)


@pytest.mark.parametrize("acted", [r for r in Role if r is not Role.SERVICE])
@pytest.mark.parametrize("audience", [Service.CLINICAL, Service.ADMIN])
def test_a_relayed_token_carries_the_person_and_the_chain(acted: Role, audience: Service) -> None:
    token = mint(Service.MIDDLEWARE, Role.SERVICE, audience, acting_for=person(acted))
    claims = verify_token(keyring_of(audience), token, audience=audience, now=NOW)
    assert claims.role is Role.SERVICE
    assert claims.acting_role is acted
    assert claims.who == person(acted).subject
    assert claims.chain == f"{issuer_of(acted).value}>middleware"
    assert claims.patient == (PATIENT if acted is Role.PATIENT else None)


def test_a_narrowed_token_names_the_patient_but_audits_as_the_service_that_vouched() -> None:
    """The portal's pre-login errand: confined to the RUT typed, audited as the portal's,
    and still narrowed (and audited as the portal's) once the middleware relays it."""
    token = SIGNERS[Service.PORTAL].issue(
        Role.PATIENT, PATIENT, audience=Service.MIDDLEWARE, scope=Scope.ACCOUNT_LINK, now=NOW
    )
    claims = verify_token(EVERYONE, token, audience=Service.MIDDLEWARE, now=NOW)
    assert claims.scope is Scope.ACCOUNT_LINK and claims.patient == PATIENT
    assert (claims.who, claims.audited_role) == ("portal", Role.SERVICE)
    relayed = SIGNERS[Service.MIDDLEWARE].issue(
        Role.SERVICE,
        "middleware",
        audience=Service.ADMIN,
        lifetime=RELAY_LIFETIME,
        acting_for=person(Role.PATIENT),
        scope=Scope.ACCOUNT_LINK,
        now=NOW,
    )
    claims = verify_token(EVERYONE, relayed, audience=Service.ADMIN, now=NOW)
    assert claims.scope is Scope.ACCOUNT_LINK and claims.patient == PATIENT
    assert (claims.who, claims.audited_role, claims.chain) == (
        "portal",
        Role.SERVICE,
        "portal>middleware",
    )
    plain = verify_token(
        EVERYONE,
        mint(Service.PORTAL, Role.PATIENT, Service.MIDDLEWARE),
        audience=Service.MIDDLEWARE,
        now=NOW,
    )
    assert (plain.scope, plain.who, plain.audited_role) == (None, PATIENT, Role.PATIENT)


def test_only_a_patients_token_may_be_narrowed_and_only_to_a_known_errand() -> None:
    with pytest.raises(ValueError, match="narrowed"):
        SIGNERS[Service.CLINICAL].issue(
            Role.DOCTOR, "dra.soto", audience=Service.CLINICAL, scope=Scope.ACCOUNT_LINK
        )
    forged = forge(claims_of(scp="account-link"))  # a doctor's token, narrowed by hand
    with pytest.raises(InvalidTokenError, match="narrowed"):
        verify_token(EVERYONE, forged, audience=Service.CLINICAL, now=NOW)
    unknown = forge(
        claims_of(iss="portal", aud="middleware", sub=PATIENT, role="patient", scp="everything"),
        issuer=Service.PORTAL,
    )
    with pytest.raises(InvalidTokenError, match="scope"):
        verify_token(EVERYONE, unknown, audience=Service.MIDDLEWARE, now=NOW)


def test_a_service_token_must_say_whom_it_acts_for_and_only_a_service_token_may() -> None:
    with pytest.raises(ValueError, match="acts for"):
        mint(Service.MIDDLEWARE, Role.SERVICE, Service.CLINICAL)
    with pytest.raises(ValueError, match="acts for"):
        mint(Service.CLINICAL, Role.DOCTOR, Service.CLINICAL, acting_for=person(Role.PATIENT))
    bare = forge(
        claims_of(iss="middleware", role="service", sub="middleware"), issuer=Service.MIDDLEWARE
    )
    with pytest.raises(InvalidTokenError, match="acts for"):
        verify_token(EVERYONE, bare, audience=Service.CLINICAL, now=NOW)


@pytest.mark.parametrize(
    "act",
    [
        {"sub": PATIENT, "role": "Patient", "iss": "portal"},  # capitalised role
        {"sub": PATIENT, "role": "PATIENT", "iss": "portal"},
        {"sub": "x", "role": "superuser", "iss": "portal"},  # unknown role
        {"sub": "dra.soto", "role": "doctor", "iss": "portal"},  # portal cannot vouch a doctor
        {"sub": "m", "role": "service", "iss": "middleware"},  # no nested relays
        {"sub": "11111111-2", "role": "patient", "iss": "portal"},  # invalid RUT
        {"sub": PATIENT, "role": "patient"},  # incomplete
        "11111111-1",  # not an object
    ],
)
def test_a_malformed_or_impossible_act_claim_is_refused(act: object) -> None:
    token = forge(
        claims_of(iss="middleware", role="service", sub="middleware", act=act),
        issuer=Service.MIDDLEWARE,
    )
    with pytest.raises(InvalidTokenError):
        verify_token(EVERYONE, token, audience=Service.CLINICAL, now=NOW)


@pytest.mark.parametrize(
    ("role", "lifetime", "after", "good"),
    [
        (Role.DOCTOR, MAX_LIFETIME, timedelta(minutes=14), True),
        (Role.DOCTOR, MAX_LIFETIME, timedelta(minutes=15), False),
        (Role.PATIENT, timedelta(minutes=1), timedelta(seconds=59), True),
        (Role.PATIENT, timedelta(minutes=1), timedelta(seconds=61), False),
        (Role.SERVICE, RELAY_LIFETIME, timedelta(seconds=30), True),
        (Role.SERVICE, RELAY_LIFETIME, timedelta(seconds=60), False),
    ],
)
def test_expiry(role: Role, lifetime: timedelta, after: timedelta, good: bool) -> None:
    issuer = issuer_of(role)
    act = person(Role.PATIENT) if role is Role.SERVICE else None
    token = mint(
        issuer,
        role,
        Service.CLINICAL if act else Service.MIDDLEWARE,
        acting_for=act,
        lifetime=lifetime,
    )
    audience = Service.CLINICAL if act else Service.MIDDLEWARE
    keyring = keyring_of(audience)
    if good:
        assert verify_token(keyring, token, audience=audience, now=NOW + after)
    else:
        with pytest.raises(InvalidTokenError, match="expired"):
            verify_token(keyring, token, audience=audience, now=NOW + after)


def test_no_token_lives_longer_than_fifteen_minutes_nor_a_relayed_one_past_a_minute() -> None:
    with pytest.raises(ValueError, match="at most"):
        mint(Service.CLINICAL, Role.DOCTOR, Service.CLINICAL, lifetime=timedelta(hours=8))
    long_lived = forge(claims_of(exp=int((NOW + timedelta(hours=8)).timestamp())))
    with pytest.raises(InvalidTokenError, match="longer"):
        verify_token(EVERYONE, long_lived, audience=Service.CLINICAL, now=NOW)
    slow_relay = forge(
        claims_of(
            iss="middleware",
            role="service",
            sub="middleware",
            act=person(Role.PATIENT).as_claim(),
            exp=int((NOW + timedelta(minutes=10)).timestamp()),
        ),
        issuer=Service.MIDDLEWARE,
    )
    with pytest.raises(InvalidTokenError, match="minute"):
        verify_token(EVERYONE, slow_relay, audience=Service.CLINICAL, now=NOW)


# --- forgeries --------------------------------------------------------------------------


def test_the_portals_key_can_never_make_a_doctor() -> None:
    forged = forge(claims_of(iss="portal", aud="middleware"), issuer=Service.PORTAL)
    with pytest.raises(InvalidTokenError, match="cannot issue a doctor"):
        verify_token(keyring_of(Service.MIDDLEWARE), forged, audience=Service.MIDDLEWARE, now=NOW)


def test_a_token_naming_one_issuer_but_signed_by_another_is_refused() -> None:
    # Signed by the portal's key, claiming clinical: no clinical key has that id.
    signer = SIGNERS[Service.PORTAL]
    forged = jwt.encode(
        claims_of(),
        signer.private_key,
        algorithm="EdDSA",
        headers={"kid": SIGNERS[Service.CLINICAL].kid},
    )
    with pytest.raises(InvalidTokenError):
        verify_token(EVERYONE, forged, audience=Service.CLINICAL, now=NOW)


@pytest.mark.parametrize("role", ["Doctor", "DOCTOR", "admin", "root", "", None])
def test_unknown_or_capitalised_roles_in_a_signed_token_are_refused(role: str | None) -> None:
    with pytest.raises(InvalidTokenError):
        verify_token(EVERYONE, forge(claims_of(role=role)), audience=Service.CLINICAL, now=NOW)


@pytest.mark.parametrize("missing", ["iss", "aud", "sub", "exp", "iat", "jti"])
def test_every_registered_claim_is_required(missing: str) -> None:
    payload = claims_of()
    del payload[missing]
    with pytest.raises(InvalidTokenError):
        verify_token(EVERYONE, forge(payload), audience=Service.CLINICAL, now=NOW)


def test_alg_none_is_refused() -> None:
    unsigned = jwt.encode(
        claims_of(), None, algorithm="none", headers={"kid": SIGNERS[Service.CLINICAL].kid}
    )
    with pytest.raises(InvalidTokenError, match="algorithm"):
        verify_token(EVERYONE, unsigned, audience=Service.CLINICAL, now=NOW)


def test_hs256_signed_with_the_public_key_is_refused() -> None:
    """Key confusion: the public key is public, so an HMAC made with it proves nothing."""
    signer = SIGNERS[Service.CLINICAL]
    public = signer.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    header = {"alg": "HS256", "typ": "JWT", "kid": signer.kid}

    def part(data: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    import hashlib
    import hmac

    signing_input = f"{part(header)}.{part(claims_of())}"
    mac = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"
    with pytest.raises(InvalidTokenError, match="algorithm"):
        verify_token(EVERYONE, forged, audience=Service.CLINICAL, now=NOW)


def test_a_tampered_payload_is_refused() -> None:
    token = mint(Service.CLINICAL, Role.NURSE, Service.CLINICAL)
    header, _, signature = token.split(".")
    doctor = forge(claims_of()).split(".")[1]
    with pytest.raises(InvalidTokenError):
        verify_token(
            EVERYONE, f"{header}.{doctor}x.{signature}", audience=Service.CLINICAL, now=NOW
        )


def test_during_a_rotation_both_keys_are_trusted_and_afterwards_only_the_new() -> None:
    old = SIGNERS[Service.CLINICAL]
    new = SigningKey(Service.CLINICAL, Ed25519PrivateKey.generate())
    both = Keyring({Service.CLINICAL: [new.private_key.public_key(), old.private_key.public_key()]})
    only_new = Keyring({Service.CLINICAL: [new.private_key.public_key()]})
    before = mint(Service.CLINICAL, Role.DOCTOR, Service.CLINICAL)
    after = new.issue(Role.DOCTOR, "dra.soto", audience=Service.CLINICAL, now=NOW)
    assert verify_token(both, before, audience=Service.CLINICAL, now=NOW)
    assert verify_token(both, after, audience=Service.CLINICAL, now=NOW)
    assert verify_token(only_new, after, audience=Service.CLINICAL, now=NOW)
    with pytest.raises(InvalidTokenError, match="no trusted key"):
        verify_token(only_new, before, audience=Service.CLINICAL, now=NOW)


def test_patient_subjects_are_normalised_ruts() -> None:
    token = SIGNERS[Service.PORTAL].issue(
        Role.PATIENT, "11.111.111-1", audience=Service.MIDDLEWARE, now=NOW
    )
    assert verify_token(EVERYONE, token, audience=Service.MIDDLEWARE, now=NOW).subject == PATIENT
    with pytest.raises(ValueError, match="RUT"):
        SIGNERS[Service.PORTAL].issue(Role.PATIENT, "11111111-2", audience=Service.MIDDLEWARE)


def test_a_token_cache_reuses_a_token_for_the_same_person_only() -> None:
    cache = TokenCache(SIGNERS[Service.PORTAL], lifetime=RELAY_LIFETIME, limit=2)
    first = cache.token(Role.PATIENT, PATIENT, audience=Service.MIDDLEWARE)
    assert cache.token(Role.PATIENT, PATIENT, audience=Service.MIDDLEWARE) == first
    other = cache.token(Role.PATIENT, "22222222-2", audience=Service.MIDDLEWARE)
    assert verify_token(EVERYONE, other, audience=Service.MIDDLEWARE).subject == "22222222-2"
    cache.token(Role.PATIENT, "33333333-3", audience=Service.MIDDLEWARE)  # over the limit: cleared
    assert cache.token(Role.PATIENT, PATIENT, audience=Service.MIDDLEWARE) != first


def _fresh(subject: str = PATIENT) -> str:
    """A patient's token from the portal, good now (for a minute)."""
    signer = SIGNERS[Service.PORTAL]
    return signer.issue(Role.PATIENT, subject, audience=Service.MIDDLEWARE, lifetime=RELAY_LIFETIME)


def test_a_verified_token_is_checked_once_and_trusted_only_until_it_expires() -> None:
    later = 0.0
    verified = VerifiedTokens(
        keyring_of(Service.MIDDLEWARE), Service.MIDDLEWARE, clock=lambda: time.time() + later
    )
    token = _fresh()
    first = verified.claims(token)
    assert first.subject == PATIENT
    assert verified.claims(token) is first  # remembered, not verified again
    later = 120.0  # past its minute and the clock skew: not served from memory any more
    assert verified.claims(token) is not first


def test_a_refused_token_is_refused_every_time() -> None:
    verified = VerifiedTokens(keyring_of(Service.MIDDLEWARE), Service.MIDDLEWARE)
    good = _fresh()
    signed, _, signature = good.rpartition(".")
    tampered = f"{signed}.{signature[::-1]}"  # same length, other bytes
    for_clinical = SIGNERS[Service.PORTAL].issue(
        Role.PATIENT, PATIENT, audience=Service.CLINICAL, lifetime=RELAY_LIFETIME
    )
    for token in (tampered, for_clinical, tampered, for_clinical):
        with pytest.raises(InvalidTokenError):
            verified.claims(token)
    assert verified.claims(good).subject == PATIENT


def test_verified_tokens_are_bounded() -> None:
    verified = VerifiedTokens(keyring_of(Service.MIDDLEWARE), Service.MIDDLEWARE, limit=1)
    token = _fresh()
    first = verified.claims(token)
    verified.claims(_fresh("22222222-2"))  # over the limit: forgotten
    assert verified.claims(token) is not first


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer ", "token"])
def test_bad_authorization_headers(header: str | None) -> None:
    with pytest.raises(InvalidTokenError):
        bearer_token(header)


def test_role_names_are_exact() -> None:
    assert bearer_token("Bearer abc.def") == "abc.def"
    assert parse_role("accountant") is Role.ACCOUNTANT
    for text in ("root", "Patient", "PATIENT", " patient"):
        with pytest.raises(ValueError, match="roles are"):
            parse_role(text)
