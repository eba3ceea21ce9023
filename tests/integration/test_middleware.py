"""The middleware against the real apps, nginx and databases: failover, breakers, honest
degraded answers, idempotent pass-through, FHIR export, patient scoping."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle

from medsys.core.tokens import Role, Service
from tests.conftest import MedsysCluster, eventually

pytestmark = pytest.mark.integration
PATIENT = "11111111-1"


class Middleware:
    def __init__(self, cluster: MedsysCluster) -> None:
        self.cluster = cluster
        self.url = f"http://127.0.0.1:{cluster.settings.port('middleware')}"

    def token(self, role: Role, subject: str) -> str:
        return self.cluster.token(role, subject, audience=Service.MIDDLEWARE)

    def get(self, path: str, token: str | None, **headers: str) -> httpx.Response:
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.get(self.url + path, headers=headers, timeout=30)

    def post(self, path: str, token: str, body: Any, **headers: str) -> httpx.Response:
        headers["Authorization"] = f"Bearer {token}"
        return httpx.post(self.url + path, headers=headers, json=body, timeout=30)

    def breakers(self) -> dict[str, Any]:
        return dict(self.get("/health", None).json()["upstreams"])


@pytest.fixture(scope="module")
def middleware(cluster: MedsysCluster) -> Middleware:
    return Middleware(cluster)


@pytest.fixture(scope="module")
def patient(middleware: Middleware) -> str:
    return middleware.token(Role.PATIENT, PATIENT)


def test_history_for_the_patient_and_nobody_else(middleware: Middleware, patient: str) -> None:
    assert middleware.get(f"/api/medical-history/{PATIENT}", None).status_code == 401
    answer = middleware.get(f"/api/medical-history/{PATIENT}", patient)
    assert answer.status_code == 200, answer.text
    history = answer.json()
    assert history["partial"] is False and history["missing"] == []
    assert history["patient"]["name"] == "Juan Pérez"
    assert history["patient"]["coverage"] == "FONASA tramo C MLE"
    # Other tests add consultations for this patient; the demo visits are still there.
    assert any(d["code"] == "I10" for c in history["consultations"] for d in c["diagnoses"]), (
        "the demo history reaches the patient"
    )
    other = middleware.get("/api/medical-history/22222222-2", patient)
    assert other.status_code == 403
    # Headers name nobody: the token does.
    for role in ("patient", "Patient", "PATIENT", "doctor"):
        acting = {"X-Acting-For": "22222222-2", "X-Acting-Role": role}
        sneaky = middleware.get("/api/medical-history/22222222-2", patient, **acting)
        assert sneaky.status_code == 403
    assert middleware.get("/api/medical-history/123", patient).status_code == 422
    # Who asks is checked before what is asked: a bad parameter from nobody is a 401.
    bad_page = f"/api/medical-history/{PATIENT}?per_page=0&demographics=maybe"
    assert middleware.get(bad_page, None).status_code == 401
    refused = middleware.get(bad_page, patient)
    assert refused.status_code == 422
    assert {d["campo"] for d in refused.json()["details"]} == {"per_page", "demographics"}
    clerk = middleware.token(Role.CLERK, "adm.vera")  # a clerk reads no clinical record
    assert middleware.get(f"/api/medical-history/{PATIENT}", clerk).status_code == 403


def test_request_id_reaches_the_apps_logs(middleware: Middleware, patient: str) -> None:
    request_id = f"trace-{uuid.uuid4().hex[:12]}"
    answer = middleware.get(
        f"/api/medical-history/{PATIENT}", patient, **{"X-Request-ID": request_id}
    )
    assert answer.headers["X-Request-ID"] == request_id
    logs = middleware.cluster.settings.log_dir

    def logged() -> bool:
        clinical = "".join((logs / f"{n}.log").read_text() for n in ("app1", "app1-replica"))
        admin = "".join((logs / f"{n}.log").read_text() for n in ("app2-1", "app2-2"))
        return request_id in clinical and request_id in admin

    eventually(logged, within=5, what="the request id in the clinical and admin logs")


def test_fhir_export_is_a_valid_bundle(middleware: Middleware) -> None:
    doctor = middleware.token(Role.DOCTOR, "dra.soto")
    answer = middleware.get(f"/fhir/Patient/{PATIENT}/$everything", doctor)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith(
        "application/fhir+json"
    )
    bundle = Bundle.model_validate(answer.json())
    kinds = {entry.resource.__resource_type__ for entry in bundle.entry}
    assert {"Patient", "Encounter", "Condition", "Invoice"} <= kinds


def test_payment_passes_through_once_with_the_clients_key(
    middleware: Middleware, patient: str
) -> None:
    summary = middleware.get(f"/api/patient/{PATIENT}", patient).json()
    owed = [i for i in summary["invoices"] if i["outstanding"] > 0]
    assert owed, "the demo data leaves an invoice to pay"
    body = {
        "patient_rut": PATIENT,
        "amount": 100,
        "allocations": [{"invoice": owed[0]["number"], "amount": 100}],
    }
    key = {"Idempotency-Key": f"portal-{uuid.uuid4().hex}"}
    first = middleware.post("/api/payments", patient, body, **key)
    second = middleware.post("/api/payments", patient, body, **key)
    assert (first.status_code, second.status_code) == (201, 200), first.text
    assert first.json()["id"] == second.json()["id"]
    assert middleware.post("/api/payments", patient, body).status_code == 400
    for_other = {**body, "patient_rut": "22222222-2"}
    assert middleware.post("/api/payments", patient, for_other, **key).status_code == 403


def test_unknown_patient_is_an_answer_not_a_breaker_failure(middleware: Middleware) -> None:
    doctor = middleware.token(Role.DOCTOR, "dra.soto")
    for _ in range(12):
        answer = middleware.get("/api/patient/6-K", middleware.token(Role.CLERK, "c"))
        assert answer.status_code == 404
    assert middleware.get(f"/api/medical-history/{PATIENT}", doctor).status_code == 200
    assert all(b["state"] == "closed" for b in middleware.breakers()["admin"].values())


def test_history_survives_killing_app1_mid_stream(middleware: Middleware, patient: str) -> None:
    statuses = []
    with httpx.Client(timeout=30) as client:
        for number in range(60):
            if number == 10:
                middleware.cluster.kill("app1")
            answer = client.get(
                f"{middleware.url}/api/medical-history/{PATIENT}",
                headers={"Authorization": f"Bearer {patient}"},
            )
            statuses.append(answer.status_code)
    assert statuses == [200] * 60
    eventually(lambda: middleware.cluster.status()["app1"].health == "ok", what="app1 back")


def test_admin_down_gives_an_honest_partial_history(middleware: Middleware, patient: str) -> None:
    middleware.cluster.stop("nginx")
    try:
        answer = middleware.get(f"/api/medical-history/{PATIENT}", patient)
        assert answer.status_code == 200
        history = answer.json()
        assert history["partial"] is True and history["patient"] is None
        assert history["missing"] and history["consultations"]
        # A client that shows no demographics does not need admin, and says so.
        bare = middleware.get(f"/api/medical-history/{PATIENT}?demographics=false", patient)
        assert bare.status_code == 200
        assert bare.json()["partial"] is False and bare.json()["patient"] is None
        assert bare.json()["consultations"] == history["consultations"]
        summary = middleware.get(f"/api/patient/{PATIENT}", patient)
        assert summary.status_code == 503 and "no está disponible" in summary.json()["message"]
    finally:
        middleware.cluster.start("nginx")


def test_both_clinical_instances_down_open_the_breakers_then_they_close(
    middleware: Middleware, patient: str
) -> None:
    middleware.cluster.stop("app1", "app1-replica")
    try:
        for _ in range(6):
            answer = middleware.get(f"/api/medical-history/{PATIENT}", patient)
            assert answer.status_code == 503
            assert "historial clínico no está disponible" in answer.json()["message"]
        clinical = middleware.breakers()["clinical"]
        assert {b["state"] for b in clinical.values()} == {"open"}
        assert middleware.get("/health", None).json()["status"] == "degraded"
        started = time.monotonic()
        fast = middleware.get(f"/api/medical-history/{PATIENT}", patient)
        assert fast.status_code == 503 and "circuit open" in fast.text
        assert time.monotonic() - started < 2, "an open breaker answers without waiting"
    finally:
        middleware.cluster.start("app1", "app1-replica")

    def closed_again() -> bool:
        middleware.get(f"/api/medical-history/{PATIENT}", patient)
        return {b["state"] for b in middleware.breakers()["clinical"].values()} == {"closed"}

    eventually(closed_again, within=30, what="breakers half-open and closed again")
    metrics = middleware.get("/metrics", None).text
    assert (
        'medsys_middleware_breaker_transitions_total{from_state="open",instance="app1",to_state="half-open"}'
        in metrics
    )
