"""Each app built by its factory in this process (Flask's test client, FastAPI's
TestClient) with the database it is handed: the real primary, one rolled-back transaction
per test. Authentication, roles, validation and the audit trail, without processes."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from flask.testing import FlaskClient

from medsys.admin.app import create_app as create_admin
from medsys.clinical.app import create_app as create_clinical
from medsys.core.clock import utc_now
from medsys.core.rut import check_digit
from medsys.core.tokens import Role, Service
from medsys.portal.app import create_app as create_portal
from tests.conftest import MedsysCluster
from tests.inprocess.conftest import OneTransaction

pytestmark = pytest.mark.inprocess

DEMO_PATIENT = "11111111-1"
OTHER_PATIENT = "22222222-2"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "X-Request-ID": f"t-{uuid.uuid4().hex[:12]}"}


def audit_rows(db: OneTransaction, rut: str, action: str) -> int:
    count = db.scalar(
        "SELECT COUNT(*) FROM audit_log WHERE patient_rut = :rut AND action = :action",
        rut=rut,
        action=action,
    )
    return int(count)  # type: ignore[call-overload]


@pytest.fixture
def clinical(cluster: MedsysCluster, clinical_db: OneTransaction) -> FlaskClient:
    app = create_clinical(
        cluster.settings, "in-process", test_config={"TESTING": True}, database=clinical_db
    )
    return app.test_client()


@pytest.fixture
def admin(cluster: MedsysCluster, admin_db: OneTransaction) -> Iterator[TestClient]:
    with TestClient(create_admin(cluster.settings, "in-process", database=admin_db)) as client:
        yield client


@pytest.fixture
def portal(cluster: MedsysCluster, portal_db: OneTransaction) -> FlaskClient:
    app = create_portal(
        cluster.settings,
        test_config={"TESTING": True, "WTF_CSRF_ENABLED": False},
        database=portal_db,
    )
    return app.test_client()


def test_clinical_records_a_consultation_and_audits_who_read_it(
    clinical: FlaskClient, clinical_db: OneTransaction, cluster: MedsysCluster
) -> None:
    body = random.randint(50_000_000, 59_999_999)
    rut = f"{body}-{check_digit(body)}"
    doctor = bearer(cluster.relayed(Service.CLINICAL, Role.DOCTOR, "dr.rojas"))
    doctors = clinical.get("/api/doctors", headers=doctor).get_json()
    doctor_id = doctors["doctors"][0]["id"]
    created = clinical.post(
        "/api/consultations",
        headers=doctor,
        json={
            "patient_rut": f"{body}{check_digit(body)}",  # any usual spelling
            "doctor_id": doctor_id,
            "starts_at": (utc_now() - timedelta(minutes=5)).isoformat(),
            "reason": "Dolor lumbar",
        },
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    consultation = created.get_json()
    assert consultation["patient_rut"] == rut and consultation["reason"] == "Dolor lumbar"
    assert audit_rows(clinical_db, rut, "create") == 1

    own = bearer(cluster.relayed(Service.CLINICAL, Role.PATIENT, rut))
    read = clinical.get(f"/api/consultations/{consultation['id']}", headers=own)
    assert read.status_code == 200 and read.get_json()["reason"] == "Dolor lumbar"
    assert audit_rows(clinical_db, rut, "read") == 1
    stranger = bearer(cluster.relayed(Service.CLINICAL, Role.PATIENT, OTHER_PATIENT))
    assert (
        clinical.get(f"/api/consultations/{consultation['id']}", headers=stranger).status_code
        == 403
    )
    assert clinical.get(f"/api/consultations/{consultation['id']}").status_code == 401
    assert audit_rows(clinical_db, rut, "read") == 1, "a refused read is not a read"


def test_clinical_refuses_bad_input_and_writes_nothing(
    clinical: FlaskClient, clinical_db: OneTransaction, cluster: MedsysCluster
) -> None:
    doctor = bearer(cluster.relayed(Service.CLINICAL, Role.DOCTOR, "dr.rojas"))
    writes = clinical_db.writes
    bad_rut = clinical.post(
        "/api/consultations",
        headers=doctor,
        json={
            "patient_rut": "12.345.678-9",
            "doctor_id": 1,
            "starts_at": "2026-01-01T10:00",
            "reason": "x",
        },
    )
    assert bad_rut.status_code == 422 and "patient_rut" in bad_rut.get_data(as_text=True)
    no_key = clinical.post(
        "/api/slots/1/reserve", headers=doctor, json={"patient_rut": DEMO_PATIENT}
    )
    assert no_key.status_code == 400 and "Idempotency-Key" in no_key.get_json()["message"]
    assert clinical_db.writes == writes
    nurse = bearer(cluster.relayed(Service.CLINICAL, Role.NURSE, "enf.silva"))
    assert clinical.post("/api/consultations/1/close", headers=nurse).status_code == 403


def test_admin_serves_a_clerk_audits_the_read_and_keeps_patients_to_themselves(
    admin: TestClient, admin_db: OneTransaction, cluster: MedsysCluster
) -> None:
    clerk = bearer(cluster.token(Role.CLERK, "adm.vera"))
    before = audit_rows(admin_db, DEMO_PATIENT, "read")
    found = admin.get("/patients/11.111.111-1", headers=clerk)
    assert found.status_code == 200 and found.json()["rut"] == DEMO_PATIENT
    assert audit_rows(admin_db, DEMO_PATIENT, "read") == before + 1
    # A list: every patient shown gets their own row (written in one statement).
    others = audit_rows(admin_db, OTHER_PATIENT, "read")
    listed = admin.get("/patients", params={"rut": [DEMO_PATIENT, OTHER_PATIENT]}, headers=clerk)
    assert sorted(p["rut"] for p in listed.json()) == sorted([DEMO_PATIENT, OTHER_PATIENT])
    assert audit_rows(admin_db, DEMO_PATIENT, "read") == before + 2
    assert audit_rows(admin_db, OTHER_PATIENT, "read") == others + 1
    patient = bearer(cluster.relayed(Service.ADMIN, Role.PATIENT, DEMO_PATIENT))
    assert admin.get(f"/patients/{OTHER_PATIENT}", headers=patient).status_code == 403
    assert admin.get("/patients/1-2", headers=clerk).status_code == 422
    accountant = bearer(cluster.token(Role.ACCOUNTANT, "cont.lagos"))
    unkeyed = admin.post(
        "/payments", headers=accountant, json={"patient_rut": DEMO_PATIENT, "amount": 1000}
    )
    assert unkeyed.status_code == 400


def test_the_portal_signs_a_patient_in_against_its_own_accounts(
    portal: FlaskClient, portal_db: OneTransaction, cluster: MedsysCluster
) -> None:
    page = portal.get("/login")
    assert page.status_code == 200 and "Ingresar" in page.get_data(as_text=True)
    wrong = portal.post("/login", data={"rut": DEMO_PATIENT, "password": "equivocada"})
    assert "incorrect" in wrong.get_data(as_text=True).lower()
    right = portal.post(
        "/login", data={"rut": "11.111.111-1", "password": cluster.password(DEMO_PATIENT)}
    )
    assert right.status_code == 302
    assert portal.get("/history?rut=22222222-2").status_code == 403


def test_flask_metrics_answer_only_this_machine(portal: FlaskClient, clinical: FlaskClient) -> None:
    for app in (portal, clinical):
        app.get("/health")
        local = app.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"})
        assert local.status_code == 200
        assert 'route="/health"' in local.get_data(as_text=True)
        remote = app.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"})
        assert remote.status_code == 403 and "medsys_http" not in remote.get_data(as_text=True)
