"""The admin and middleware APIs fuzzed from their own OpenAPI documents (schemathesis),
with a token per role, on a system of its own (the fuzzer creates, changes and voids
records at random): every answer must be documented, match its declared schema, and
none may be a server error. Bounded: a fixed seed and a few examples per operation,
about three minutes in all."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from medsys.core.tokens import Role, Service
from tests.conftest import MedsysCluster, own_system_for

pytestmark = pytest.mark.integration
REPORTS = Path(__file__).resolve().parents[2] / "artifacts" / "schemathesis"
CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance"
EXAMPLES_PER_OPERATION = "8"

# Whose token each service is fuzzed with, as that person: every role that may use it.
ADMIN_CALLERS = (
    (Role.CLERK, "adm.vera"),
    (Role.ACCOUNTANT, "cont.lagos"),
    (Role.PATIENT, "11111111-1"),
)
MIDDLEWARE_CALLERS = (
    (Role.PATIENT, "11111111-1"),
    (Role.DOCTOR, "dr.rojas"),
    (Role.NURSE, "enf.silva"),
    (Role.CLERK, "adm.vera"),
    (Role.ACCOUNTANT, "cont.lagos"),
)


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[MedsysCluster]:
    with own_system_for(__file__) as system:
        yield system


def _fuzz(system: MedsysCluster, service: str, role: Role, subject: str) -> str:
    audience = Service.MIDDLEWARE if service == "middleware" else Service.ADMIN
    token = system.token(role, subject, audience=audience)
    base = system.settings.url("nginx" if service == "admin" else "middleware")
    REPORTS.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "run",
            f"{base}/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            CHECKS,
            "--max-examples",
            EXAMPLES_PER_OPERATION,
            "--seed",
            "20",
            "--report",
            "junit",
            "--report-junit-path",
            str(REPORTS / f"{service}-{role.value}.xml"),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_TELEMETRY": "false"},
        cwd=REPORTS,  # its cache of earlier findings stays out of the checkout
    )
    said = result.stdout + result.stderr
    assert result.returncode == 0, f"{service} as {role.value}:\n{said[-4000:]}"
    return said


FUZZ_RUNS = [("admin", *caller) for caller in ADMIN_CALLERS] + [
    ("middleware", *caller) for caller in MIDDLEWARE_CALLERS
]


@pytest.mark.parametrize(
    ("service", "role", "subject"),
    FUZZ_RUNS,
    ids=[f"{service}-{role.value}" for service, role, _ in FUZZ_RUNS],
)
def test_each_api_answers_only_what_it_documents(
    fuzzed: MedsysCluster, service: str, role: Role, subject: str
) -> None:
    said = _fuzz(fuzzed, service, role, subject)
    assert " passed" in said and "Server error" not in said


def test_a_null_name_is_refused_and_changes_nothing(fuzzed: MedsysCluster) -> None:
    """Found by the fuzzer: PATCH with "nombre": null was a 500 (NOT NULL column)."""
    clerk = fuzzed.token(Role.CLERK, "adm.vera")
    base = fuzzed.settings.url("nginx")
    headers = {"Authorization": f"Bearer {clerk}"}
    before = httpx.get(f"{base}/patients/22222222-2", headers=headers).json()["nombre"]
    refused = httpx.patch(
        f"{base}/patients/22222222-2", headers=headers, json={"nombre": None, "telefono": None}
    )
    assert refused.status_code == 422
    after = httpx.get(f"{base}/patients/22222222-2", headers=headers).json()
    assert after["nombre"] == before and after["telefono"] is not None


def test_null_bytes_are_refused_after_authentication(fuzzed: MedsysCluster) -> None:
    clerk = fuzzed.token(Role.CLERK, "adm.vera")
    base = fuzzed.settings.url("nginx")
    anonymous = httpx.get(f"{base}/patients", params={"q": "ana\x00"})
    assert anonymous.status_code == 401
    searched = httpx.get(
        f"{base}/patients", params={"q": "ana\x00"}, headers={"Authorization": f"Bearer {clerk}"}
    )
    assert searched.status_code == 422 and searched.json()["details"][0]["campo"] == "q"
    created = httpx.post(
        f"{base}/patients",
        headers={"Authorization": f"Bearer {clerk}"},
        json={"rut": "5.126.663-3", "nombre": "Nula\x00Mente", "email": "n@example.cl"},
    )
    assert created.status_code == 422
    missing = httpx.get(f"{base}/patients/5126663-3", headers={"Authorization": f"Bearer {clerk}"})
    assert missing.status_code == 404, "nothing was written"
    # A search for % or _ finds those characters, not every patient.
    everyone = httpx.get(
        f"{base}/patients", params={"q": "%"}, headers={"Authorization": f"Bearer {clerk}"}
    )
    assert everyone.status_code == 200 and everyone.json() == []


def test_anonymous_requests_hear_401_whatever_their_body(fuzzed: MedsysCluster) -> None:
    settings = fuzzed.settings
    attempts = [
        ("POST", f"{settings.url('app3')}/api/appointments", {}),
        ("POST", f"{settings.url('nginx')}/patients", {}),
        ("POST", f"{settings.url('nginx')}/invoices", {"nonsense": True}),
        ("POST", f"{settings.url('middleware')}/api/payments", {}),
        ("POST", f"{settings.url('app1')}/api/consultations", {}),
    ]
    for method, url, body in attempts:
        answer = httpx.request(method, url, json=body)
        assert answer.status_code == 401, (url, answer.status_code, answer.text[:200])
        assert "patient_rut" not in answer.text, "no field is described to a stranger"


def test_metrics_answer_only_this_machine_or_the_scrape_token(
    fuzzed: MedsysCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert httpx.get(f"{fuzzed.settings.url('middleware')}/metrics").status_code == 200
    # The real middleware app, in this process: its test client's address is no loopback
    # address, as a scraper elsewhere on a network would be.
    from fastapi.testclient import TestClient

    from medsys.middleware.app import create_app

    token = "scrape-" + "x1y2z3" * 6
    monkeypatch.setenv("MEDSYS_METRICS_TOKEN", token)
    with TestClient(create_app(fuzzed.settings)) as client:
        assert client.get("/metrics").status_code == 403
        assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 403
        allowed = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert allowed.status_code == 200 and "medsys_middleware" in allowed.text
