"""Identity on the live stack: every forgery of issue 12 refused, staff lockout (also
against parallel guesses), TOTP brute force stopped, codes used once, sessions that end
within one request, account administration by API and CLI, audit rows for refusals."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import pwd
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pyotp
import pytest
from argon2 import PasswordHasher, extract_parameters, profiles
from sqlalchemy import text

from medsys.core.accounts import Part, account_name
from medsys.core.keys import signing_key
from medsys.core.tokens import Role, Service
from tests.conftest import MedsysCluster, client_from, next_address
from tests.integration.test_portal import Browserless

pytestmark = pytest.mark.integration
PATIENT, OTHER = "11111111-1", "22222222-2"


class Stack:
    def __init__(self, cluster: MedsysCluster) -> None:
        self.cluster = cluster
        port = cluster.settings.port
        self.clinical = f"http://127.0.0.1:{port('app1')}"
        self.clinical_replica = f"http://127.0.0.1:{port('app1-replica')}"
        self.admin = f"http://127.0.0.1:{port('nginx')}"
        self.middleware = f"http://127.0.0.1:{port('middleware')}"

    def get(self, url: str, token: str | None, **headers: str) -> httpx.Response:
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.get(url, headers=headers, timeout=30)

    def forge(self, signer: Service, claims: dict[str, Any], **header: Any) -> str:
        """Claims of our choosing, signed with ``signer``'s real private key."""
        key = signing_key(self.cluster.settings, signer)
        now = datetime.now(UTC)
        payload = {
            "iss": signer.value,
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(minutes=1)).timestamp()),
            "jti": uuid.uuid4().hex,
            **claims,
        }
        headers = {"kid": key.kid, **header}
        return jwt.encode(payload, key.private_key, algorithm="EdDSA", headers=headers)

    def refusals(self, rut: str) -> int:
        db = self.cluster.database("clinical")
        try:
            return int(
                db.read(
                    lambda s: s.execute(
                        text(
                            "SELECT COUNT(*) FROM audit_log WHERE patient_rut = :r "
                            "AND action LIKE 'refused-%'"
                        ),
                        {"r": rut},
                    ).scalar_one()
                )
            )
        finally:
            db.dispose()

    def new_staff(self, role: Role = Role.NURSE) -> tuple[str, str]:
        """A fresh account made with `medsys user add`: (username, password)."""
        return self.cluster.new_staff(role, "Persona Prueba")


def login(url: str, username: str, password: str, address: str, **extra: str) -> httpx.Response:
    with client_from(address) as client:
        return client.post(
            f"{url}/auth/login", json={"username": username, "password": password, **extra}
        )


@pytest.fixture(scope="module")
def stack(cluster: MedsysCluster) -> Stack:
    return Stack(cluster)


# --- forgeries --------------------------------------------------------------------------


def test_headers_never_say_who_the_caller_is(stack: Stack) -> None:
    """The attack of the issue: a service token with X-Acting-For reads someone else's
    history. Today a service token must carry a signed act claim, and headers are ignored."""
    history = f"{stack.middleware}/api/medical-history/{OTHER}"
    patient = stack.cluster.token(Role.PATIENT, PATIENT)
    for role in ("Patient", "PATIENT", "patient", "doctor"):
        acting = {"X-Acting-For": OTHER, "X-Acting-Role": role}
        assert stack.get(history, patient, **acting).status_code == 403
    relayed = stack.cluster.relayed(Service.CLINICAL, Role.PATIENT, PATIENT)
    direct = f"{stack.clinical}/api/patients/{OTHER}/history"
    before = stack.refusals(OTHER)
    assert stack.get(direct, relayed, **{"X-Acting-For": OTHER}).status_code == 403
    assert stack.refusals(OTHER) == before + 1, "the refused read is audited"


@pytest.mark.parametrize(
    ("signer", "claims", "why"),
    [
        (
            Service.MIDDLEWARE,
            {"aud": "clinical", "sub": "middleware", "role": "service"},
            "a service token without acting-for",
        ),
        (
            Service.MIDDLEWARE,
            {
                "aud": "clinical",
                "sub": "middleware",
                "role": "service",
                "act": {"sub": OTHER, "role": "Patient", "iss": "portal"},
            },
            "a capitalised role in act",
        ),
        (
            Service.MIDDLEWARE,
            {"aud": "clinical", "sub": "m", "role": "superuser", "act": None},
            "an unknown role",
        ),
        (
            Service.PORTAL,
            {"aud": "clinical", "sub": "dra.soto", "role": "doctor"},
            "a portal-signed doctor",
        ),
        (
            Service.CLINICAL,
            {"aud": "admin", "sub": "dra.soto", "role": "doctor"},
            "the wrong audience",
        ),
    ],
)
def test_forged_tokens_are_refused_at_clinical(
    stack: Stack, signer: Service, claims: dict[str, Any], why: str
) -> None:
    claims = {k: v for k, v in claims.items() if v is not None}
    token = stack.forge(signer, claims)
    before = stack.refusals(OTHER)
    answer = stack.get(f"{stack.clinical}/api/patients/{OTHER}/history", token)
    assert answer.status_code == 401, why
    assert "token válido" in answer.json()["message"]
    assert stack.refusals(OTHER) == before + 1, f"{why}: one audit row"


def test_expired_and_unsigned_tokens_and_key_confusion_are_refused(stack: Stack) -> None:
    url = f"{stack.clinical}/api/patients/{PATIENT}/history"
    past = datetime.now(UTC) - timedelta(minutes=20)
    expired = stack.forge(
        Service.CLINICAL,
        {
            "aud": "clinical",
            "sub": "dra.soto",
            "role": "doctor",
            "iat": int(past.timestamp()),
            "exp": int((past + timedelta(minutes=5)).timestamp()),
        },
    )
    assert stack.get(url, expired).status_code == 401
    claims = {"iss": "clinical", "aud": "clinical", "sub": "dra.soto", "role": "doctor"}
    claims |= {"iat": int(datetime.now(UTC).timestamp()), "jti": "x" * 32}
    claims["exp"] = claims["iat"] + 300
    kid = signing_key(stack.cluster.settings, Service.CLINICAL).kid
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": kid})
    assert stack.get(url, unsigned).status_code == 401
    public = (stack.cluster.state_dir / "secrets/keys/clinical.pub").read_text().split()[0]
    part = [
        base64.urlsafe_b64encode(json.dumps(x).encode()).decode().rstrip("=")
        for x in ({"alg": "HS256", "typ": "JWT", "kid": kid}, claims)
    ]
    signed_input = ".".join(part)
    for secret in (public.encode(), base64.urlsafe_b64decode(public + "=")):
        mac = hmac.new(secret, signed_input.encode(), hashlib.sha256).digest()
        confused = f"{signed_input}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"
        assert stack.get(url, confused).status_code == 401


def test_each_token_works_only_at_its_audience(stack: Stack) -> None:
    cluster = stack.cluster
    history = f"/api/patients/{PATIENT}/history"
    for_middleware = cluster.token(Role.DOCTOR, "dra.soto", audience=Service.MIDDLEWARE)
    for_clinical = cluster.token(Role.DOCTOR, "dra.soto", audience=Service.CLINICAL)
    assert stack.get(stack.clinical + history, for_middleware).status_code == 401
    assert stack.get(stack.clinical + history, for_clinical).status_code == 200
    assert (
        stack.get(f"{stack.middleware}/api/medical-history/{PATIENT}", for_clinical).status_code
        == 401
    )
    portal_patient = cluster.token(Role.PATIENT, PATIENT, audience=Service.PORTAL)
    assert (
        stack.get(f"{stack.middleware}/api/medical-history/{PATIENT}", portal_patient).status_code
        == 401
    )
    clerk = cluster.token(Role.CLERK, "adm.vera")
    assert stack.get(f"{stack.admin}/patients/{PATIENT}", clerk).status_code == 200
    assert stack.get(stack.clinical + history, clerk).status_code == 401


# --- staff login -------------------------------------------------------------------------


def test_staff_log_in_with_their_own_passwords_and_tokens_live_fifteen_minutes(
    stack: Stack,
) -> None:
    cluster = stack.cluster
    address = next_address()
    doctor = login(stack.clinical, "dra.soto", cluster.password("dra.soto"), address)
    assert doctor.status_code == 200, doctor.text
    assert doctor.json()["expires_in"] == 900
    assert (
        login(stack.clinical, "dra.soto", cluster.password("dr.rojas"), address).status_code == 401
    )
    clerk = login(stack.admin, "adm.vera", cluster.password("adm.vera"), address)
    assert clerk.status_code == 200, clerk.text
    token = clerk.json()["token"]
    assert stack.get(f"{stack.admin}/patients/{PATIENT}", token).status_code == 200
    # A clerk's login is admin's: clinical does not take it, nor a nurse's password at admin.
    assert stack.get(f"{stack.clinical}/api/doctors", token).status_code == 401
    assert (
        login(stack.admin, "enf.silva", cluster.password("enf.silva"), address).status_code == 401
    )


def test_a_staff_account_locks_after_five_failures(stack: Stack) -> None:
    username, password = stack.new_staff()
    address = next_address()
    for _ in range(5):
        wrong = login(stack.clinical, username, "not-the-password", address)
        assert wrong.status_code == 401
    locked = login(stack.clinical, username, password, next_address())
    assert locked.status_code == 429 and "Demasiados intentos" in locked.json()["message"]


def test_parallel_guesses_cannot_pass_the_limit(stack: Stack) -> None:
    username, _ = stack.new_staff(Role.CLERK)
    answers: list[int] = []
    address = next_address()

    def guess(number: int) -> None:
        answers.append(login(stack.admin, username, f"guess-{number:04d}", address).status_code)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(15)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    checked = answers.count(401)
    assert checked <= 5, f"{checked} guesses were checked; the limit is 5"
    assert answers.count(429) == 15 - checked


def test_a_success_on_ones_own_account_does_not_reset_the_address(stack: Stack) -> None:
    victim, _ = stack.new_staff()
    own, own_password = stack.new_staff()
    address = next_address()
    for _ in range(3):
        assert login(stack.clinical, victim, "guess-guess", address).status_code == 401
    assert login(stack.clinical, own, own_password, address).status_code == 200
    db = stack.cluster.database("clinical")
    try:
        failures = db.read(
            lambda s: s.execute(
                text("SELECT failures FROM login_counters WHERE `key` = :k"),
                {"k": f"address:{address}"},
            ).scalar_one()
        )
    finally:
        db.dispose()
    assert failures == 3


def test_totp_codes_are_used_once_and_a_brute_force_is_stopped(stack: Stack) -> None:
    username, password = stack.new_staff(Role.ACCOUNTANT)
    address = next_address()
    token = login(stack.admin, username, password, address).json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    no_password = httpx.post(
        f"{stack.admin}/auth/second-factor", json={"password": "wrong-one"}, headers=bearer
    )
    assert no_password.status_code == 403, "enrolling needs the current password"
    enrol = httpx.post(
        f"{stack.admin}/auth/second-factor", json={"password": password}, headers=bearer
    )
    secret = enrol.json()["secret"]
    totp = pyotp.TOTP(secret)
    confirm = httpx.post(
        f"{stack.admin}/auth/second-factor/confirm", json={"code": totp.now()}, headers=bearer
    )
    assert confirm.status_code == 200, confirm.text
    # The code that confirmed enrolment is spent; without a code the login asks for one.
    asks = login(stack.admin, username, password, next_address())
    assert asks.status_code == 401 and asks.json()["error"] == "second_factor_required"
    later = totp.at(datetime.now(UTC) + timedelta(seconds=30))
    first = login(stack.admin, username, password, next_address(), code=later)
    assert first.status_code == 200, first.text
    replay = login(stack.admin, username, password, next_address(), code=later)
    assert replay.status_code == 401, "a code opens one session"
    # Someone with the password tries codes: each wrong code counts toward the lockout.
    attacker = next_address()
    results = [
        login(stack.admin, username, password, attacker, code=f"{n:06d}").status_code
        for n in range(6)
    ]
    assert results[-1] == 429 and results.count(401) <= 5
    right_now = login(stack.admin, username, password, next_address(), code=totp.now())
    assert right_now.status_code == 429, "locked even with a good code"


# --- sessions -------------------------------------------------------------------------------


def test_a_session_ends_within_one_request(stack: Stack) -> None:
    username, password = stack.new_staff(Role.DOCTOR)
    address = next_address()
    history = f"/api/patients/{PATIENT}/history"
    first = login(stack.clinical, username, password, address).json()
    second = login(stack.clinical, username, password, address).json()
    assert stack.get(stack.clinical + history, first["token"]).status_code == 200
    # Refresh: a new access token for the same, still open, session.
    refreshed = httpx.post(f"{stack.clinical}/auth/refresh", json={"session": first["session"]})
    assert refreshed.status_code == 200
    logout = httpx.post(
        f"{stack.clinical}/auth/logout", headers={"Authorization": f"Bearer {first['token']}"}
    )
    assert logout.json() == {"ended_sessions": 1}
    for token in (first["token"], refreshed.json()["token"]):
        for url in (stack.clinical, stack.clinical_replica):
            assert stack.get(url + history, token).status_code == 401, "replayed after logout"
    again = httpx.post(f"{stack.clinical}/auth/refresh", json={"session": first["session"]})
    assert again.status_code == 401
    assert stack.get(stack.clinical + history, second["token"]).status_code == 200
    # Deactivation ends every session at once.
    stack.cluster.medsys("user", "deactivate", username)
    assert stack.get(stack.clinical_replica + history, second["token"]).status_code == 401
    assert login(stack.clinical, username, password, address).status_code == 401


def test_a_new_password_ends_every_session(stack: Stack) -> None:
    username, password = stack.new_staff(Role.CLERK)
    session = login(stack.admin, username, password, next_address()).json()
    bearer = {"Authorization": f"Bearer {session['token']}"}
    short = httpx.post(
        f"{stack.admin}/auth/password",
        json={"current_password": password, "new_password": "corta"},
        headers=bearer,
    )
    assert short.status_code == 422
    changed = httpx.post(
        f"{stack.admin}/auth/password",
        json={"current_password": password, "new_password": "una-clave-nueva-larga"},
        headers=bearer,
    )
    assert changed.status_code == 200 and changed.json()["ended_sessions"] == 1
    assert stack.get(f"{stack.admin}/patients/{PATIENT}", session["token"]).status_code == 401
    fresh = login(stack.admin, username, "una-clave-nueva-larga", next_address())
    assert fresh.status_code == 200


def test_a_session_outlives_the_instance_that_opened_it(stack: Stack) -> None:
    username, password = stack.new_staff()
    token = login(stack.clinical, username, password, next_address()).json()["token"]
    stack.cluster.kill("app1")
    try:
        answer = stack.get(f"{stack.clinical_replica}/api/doctors", token)
        assert answer.status_code == 200
    finally:
        stack.cluster.start("app1")


# --- administration -----------------------------------------------------------------------


def test_an_administrator_manages_accounts_and_nobody_else_does(stack: Stack) -> None:
    cluster = stack.cluster
    admin = login(stack.admin, "adm.vera", cluster.password("adm.vera"), next_address())
    boss = {"Authorization": f"Bearer {admin.json()['token']}"}
    accountant = login(stack.admin, "cont.lagos", cluster.password("cont.lagos"), next_address())
    plain = {"Authorization": f"Bearer {accountant.json()['token']}"}
    assert httpx.get(f"{stack.admin}/auth/users", headers=plain).status_code == 403
    name = f"c.{uuid.uuid4().hex[:8]}"
    body = {"username": name, "full_name": "Carla Díaz", "role": "clerk"}
    made = httpx.post(f"{stack.admin}/auth/users", json=body, headers=boss)
    assert made.status_code == 201, made.text
    assert httpx.post(f"{stack.admin}/auth/users", json=body, headers=boss).status_code == 409
    doctor = httpx.post(
        f"{stack.admin}/auth/users",
        json={**body, "username": "x.doc", "role": "doctor"},
        headers=boss,
    )
    assert doctor.status_code == 422, "admin makes only clerks and accountants"
    users = httpx.get(f"{stack.admin}/auth/users", headers=boss).json()["users"]
    assert any(u["username"] == name and u["active"] for u in users)
    assert all("password" not in str(u) for u in users)
    reset = httpx.post(f"{stack.admin}/auth/users/{name}/reset-password", headers=boss).json()
    assert login(stack.admin, name, made.json()["password"], next_address()).status_code == 401
    assert login(stack.admin, name, reset["password"], next_address()).status_code == 200
    gone = httpx.post(f"{stack.admin}/auth/users/{name}/deactivate", headers=boss)
    assert gone.status_code == 200
    assert login(stack.admin, name, reset["password"], next_address()).status_code == 401


def test_the_user_command_lists_and_resets(stack: Stack) -> None:
    username, password = stack.new_staff(Role.DOCTOR)
    listed = stack.cluster.medsys("user", "list").stdout
    assert username in listed and "dra.soto" in listed and "adm.vera" in listed
    assert password not in listed
    new = stack.cluster.medsys("user", "reset-password", username).stdout.rsplit(" ", 1)[1].strip()
    assert login(stack.clinical, username, new, next_address()).status_code == 200
    bad = stack.cluster.medsys("user", "add", "x", "--role", "doctor", "--name", "X", check=False)
    assert bad.returncode == 2 and "--rut" in bad.stderr


def test_a_key_rotation_keeps_old_tokens_valid_until_the_old_key_is_retired(
    stack: Stack,
) -> None:
    cluster = stack.cluster
    clinical_services = ("app1", "app1-replica", "middleware")  # all that trust clinical
    url = f"{stack.clinical}/api/doctors"
    old = cluster.token(Role.DOCTOR, "dra.soto")
    said = cluster.medsys("keys", "rotate", "clinical").stdout
    assert "new key" in said and "retire" in said
    cluster.medsys("restart", *clinical_services)
    new = cluster.token(Role.DOCTOR, "dra.soto")
    assert stack.get(url, old).status_code == 200, "the old key is still trusted"
    assert stack.get(url, new).status_code == 200
    listed = cluster.medsys("keys", "list").stdout
    assert (
        len(next(line for line in listed.splitlines() if line.startswith("clinical")).split(","))
        == 2
    )
    cluster.medsys("keys", "retire", "clinical")
    cluster.medsys("restart", *clinical_services)
    assert stack.get(url, old).status_code == 401, "retired"
    assert stack.get(url, new).status_code == 200
    for name in ("clinical.key", "clinical.pub"):
        mode = (cluster.state_dir / "secrets/keys" / name).stat().st_mode & 0o777
        assert mode == (0o400 if name.endswith(".key") else 0o644)
    if os.geteuid() == 0:  # the new private key is the clinical account's alone
        owner = (cluster.state_dir / "secrets/keys/clinical.key").stat().st_uid
        assert pwd.getpwuid(owner).pw_name == account_name(cluster.settings, Part.CLINICAL)


# --- stored hashes follow the hashing profile in use ------------------------------------


def _stored_hash(stack: Stack, pair: str, sql: str, key: str) -> str:
    db = stack.cluster.database(pair)
    try:
        return str(db.read(lambda s: s.execute(text(sql), {"k": key}).scalar_one()))
    finally:
        db.dispose()


def _store_hash(stack: Stack, pair: str, sql: str, key: str, stored: str) -> None:
    db = stack.cluster.database(pair)
    try:
        db.write(lambda s: s.execute(text(sql), {"k": key, "h": stored}))
    finally:
        db.dispose()


def test_a_login_makes_a_hash_of_other_parameters_anew(stack: Stack) -> None:
    """A hash made with other parameters (here argon2-cffi's standard profile, while the
    test systems run its cheapest) is replaced by one of the profile in use at the next
    good login, for staff and patients alike; a wrong password changes nothing."""
    username, password = stack.new_staff()
    read_staff = "SELECT password_hash FROM staff WHERE username = :k"
    _store_hash(
        stack,
        "clinical",
        "UPDATE staff SET password_hash = :h WHERE username = :k",
        username,
        PasswordHasher().hash(password),
    )
    address = next_address()
    assert login(stack.clinical, username, "otra-clave-equivocada", address).status_code == 401
    assert extract_parameters(_stored_hash(stack, "clinical", read_staff, username)) == (
        profiles.RFC_9106_LOW_MEMORY
    ), "a refused login rewrites nothing"
    assert login(stack.clinical, username, password, address).status_code == 200
    assert extract_parameters(_stored_hash(stack, "clinical", read_staff, username)) == (
        profiles.CHEAPEST
    )
    assert login(stack.clinical, username, password, address).status_code == 200

    patient_password = "clave-del-paciente-1"
    patient = stack.cluster.new_patient_account(patient_password)
    read_account = "SELECT password_hash FROM accounts WHERE rut = :k"
    before = _stored_hash(stack, "portal", read_account, patient)
    _store_hash(
        stack,
        "portal",
        "UPDATE accounts SET password_hash = :h WHERE rut = :k",
        patient,
        PasswordHasher().hash(patient_password),
    )
    browser = Browserless(stack.cluster)
    assert browser.login(patient, patient_password).status_code == 302
    after = _stored_hash(stack, "portal", read_account, patient)
    assert after != before and extract_parameters(after) == profiles.CHEAPEST
