from datetime import UTC, datetime, timedelta

import jwt
import pytest

from medsys.core.tokens import (
    InvalidTokenError,
    Role,
    bearer_token,
    issue_token,
    parse_role,
    verify_token,
)

KEY = "a-test-key-that-is-long-enough-for-hs256-0123456789"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_round_trip_keeps_subject_and_role() -> None:
    token = issue_token(KEY, Role.DOCTOR, "dr-soto", now=NOW)
    claims = verify_token(KEY, token, now=NOW + timedelta(minutes=1))
    assert (claims.subject, claims.role) == ("dr-soto", Role.DOCTOR)


def test_patient_subject_is_the_normalised_rut() -> None:
    token = issue_token(KEY, Role.PATIENT, "11.111.111-1", now=NOW)
    assert verify_token(KEY, token, now=NOW).subject == "11111111-1"


def test_patient_token_needs_a_valid_rut() -> None:
    with pytest.raises(ValueError, match="RUT"):
        issue_token(KEY, Role.PATIENT, "11111111-2", now=NOW)


def test_tampered_payload_is_rejected() -> None:
    token = issue_token(KEY, Role.NURSE, "n-1", now=NOW)
    header, _payload, signature = token.split(".")
    forged = jwt.encode({"sub": "n-1", "role": "doctor"}, "o" * 40, algorithm="HS256")
    tampered = ".".join([header, forged.split(".")[1], signature])
    with pytest.raises(InvalidTokenError):
        verify_token(KEY, tampered, now=NOW)


def test_other_key_is_rejected() -> None:
    token = issue_token("x" * 40, Role.CLERK, "c-1", now=NOW)
    with pytest.raises(InvalidTokenError):
        verify_token(KEY, token, now=NOW)


def test_expired_token_is_rejected() -> None:
    token = issue_token(KEY, Role.CLERK, "c-1", lifetime=timedelta(minutes=5), now=NOW)
    with pytest.raises(InvalidTokenError, match="expired"):
        verify_token(KEY, token, now=NOW + timedelta(minutes=6))


def test_unsigned_token_is_rejected() -> None:
    unsigned = jwt.encode(
        {"sub": "x", "role": "doctor", "iss": "medsys", "iat": 1, "exp": 2**40},
        None,
        algorithm="none",
    )
    with pytest.raises(InvalidTokenError):
        verify_token(KEY, unsigned)


def test_unknown_role_in_a_signed_token_is_rejected() -> None:
    forged = jwt.encode(
        {"sub": "x", "role": "admin", "iss": "medsys", "iat": 1, "exp": 2**40}, KEY, "HS256"
    )
    with pytest.raises(InvalidTokenError):
        verify_token(KEY, forged)


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer ", "token"])
def test_bad_authorization_headers(header: str | None) -> None:
    with pytest.raises(InvalidTokenError):
        bearer_token(header)


def test_bearer_header_parsing_and_role_names() -> None:
    assert bearer_token("Bearer abc.def") == "abc.def"
    assert parse_role("accountant") is Role.ACCOUNTANT
    with pytest.raises(ValueError, match="roles are"):
        parse_role("root")
