"""The clinical service end to end: real MariaDB pair, both real instances, real tokens."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from medsys.chaos.lab import Lab
from medsys.core.tokens import Role, Service
from medsys.core.topology import pair_named
from tests.conftest import MedsysCluster, count_rows, eventually

pytestmark = pytest.mark.integration
PATIENT = "11111111-1"


class Clinical:
    """The clinical API as a client sees it, through either instance."""

    def __init__(self, cluster: MedsysCluster) -> None:
        self.cluster = cluster
        self.urls = [
            f"http://127.0.0.1:{cluster.settings.port(name)}" for name in ("app1", "app1-replica")
        ]

    def login(self, username: str, password: str | None = None) -> str:
        answer = httpx.post(
            f"{self.urls[0]}/auth/login",
            json={"username": username, "password": password or self.cluster.password(username)},
        )
        assert answer.status_code == 200, answer.text
        return str(answer.json()["token"])

    def relayed(self, role: Role, subject: str) -> str:
        """The middleware's token acting for a person."""
        return self.cluster.relayed(Service.CLINICAL, role, subject)

    def call(
        self, method: str, path: str, token: str | None = None, instance: int = 0, **kwargs: Any
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.request(
            method, self.urls[instance] + path, headers=headers, timeout=30, **kwargs
        )

    def audit_rows(self, actor: str, rut: str) -> int:
        db = self.cluster.database("clinical")
        try:
            return int(
                db.read(
                    lambda s: s.execute(
                        text(
                            "SELECT COUNT(*) FROM audit_log WHERE actor = :a AND patient_rut = :r"
                        ),
                        {"a": actor, "r": rut},
                    ).scalar_one()
                )
            )
        finally:
            db.dispose()


@pytest.fixture(scope="module")
def clinical(cluster: MedsysCluster) -> Clinical:
    return Clinical(cluster)


@pytest.fixture(scope="module")
def doctor(clinical: Clinical) -> str:
    return clinical.login("dra.soto")


@pytest.fixture(scope="module")
def nurse(clinical: Clinical) -> str:
    return clinical.login("enf.silva")


def test_each_instance_names_itself_and_its_health(clinical: Clinical) -> None:
    for instance, name in enumerate(("app1", "app1-replica")):
        answer = clinical.call("GET", "/", instance=instance).json()
        assert answer["instance"] == name and answer["status"] == "ok"
        assert clinical.call("GET", "/health", instance=instance).json()["database"]["reachable"]


def test_wrong_password_is_refused_without_saying_which_part(clinical: Clinical) -> None:
    for username in ("dra.soto", "nobody"):
        answer = clinical.call(
            "POST", "/auth/login", json={"username": username, "password": "wrong-password"}
        )
        assert answer.status_code == 401
        assert answer.json()["message"] == "Usuario o contraseña incorrectos."


def test_history_needs_a_token_and_every_read_is_audited(clinical: Clinical, doctor: str) -> None:
    assert clinical.call("GET", f"/api/patients/{PATIENT}/history").status_code == 401
    before = clinical.audit_rows("dra.soto", PATIENT)
    answer = clinical.call("GET", "/api/patients/11.111.111-1/history", doctor, instance=1)
    assert answer.status_code == 200
    history = answer.json()
    assert history["patient_rut"] == PATIENT and history["total"] >= 3
    first = history["consultations"][0]
    assert first["diagnoses"] and first["treatments"] and first["doctor"]["specialty"]
    dates = [c["starts_at"] for c in history["consultations"]]
    assert dates == sorted(dates, reverse=True), "newest first"
    assert clinical.audit_rows("dra.soto", PATIENT) == before + 1


def test_a_relayed_read_is_audited_for_the_person_and_the_chain(clinical: Clinical) -> None:
    service = clinical.relayed(Role.PATIENT, "22222222-2")
    before = clinical.audit_rows("22222222-2", "22222222-2")
    answer = clinical.call("GET", "/api/patients/22222222-2/history", service)
    assert answer.status_code == 200
    assert clinical.audit_rows("22222222-2", "22222222-2") == before + 1
    db = clinical.cluster.database("clinical")
    try:
        row = db.read(
            lambda s: s.execute(
                text(
                    "SELECT actor_role, via_service FROM audit_log WHERE actor = '22222222-2' "
                    "ORDER BY id DESC LIMIT 1"
                )
            ).one()
        )
    finally:
        db.dispose()
    assert tuple(row) == ("patient", "portal>middleware")


def test_a_relayed_patient_reaches_only_their_own_records(clinical: Clinical) -> None:
    patient = clinical.relayed(Role.PATIENT, PATIENT)
    assert clinical.call("GET", f"/api/patients/{PATIENT}/history", patient).status_code == 200
    other = clinical.call("GET", "/api/patients/22222222-2/history", patient)
    assert other.status_code == 403
    clerk = clinical.relayed(Role.CLERK, "adm.vera")
    assert clinical.call("GET", f"/api/patients/{PATIENT}/history", clerk).status_code == 403


def test_consultation_life_and_what_a_nurse_may_not_do(
    clinical: Clinical, doctor: str, nurse: str
) -> None:
    created = clinical.call(
        "POST",
        "/api/consultations",
        nurse,
        json={
            "patient_rut": "33.333.333-3",
            "doctor_id": 1,
            "starts_at": "2026-12-01T10:00",
            "reason": "Control",
        },
    )
    assert created.status_code == 201, created.text
    consultation = created.json()
    assert consultation["starts_at"] == "2026-12-01T10:00:00-03:00"
    path = f"/api/consultations/{consultation['id']}"

    diagnosis = {"code": "J06.9", "description": "Infección respiratoria alta"}
    medication = {
        "kind": "medication",
        "description": "Paracetamol",
        "dose": "500 mg",
        "frequency": "cada 8 horas",
    }
    assert clinical.call("POST", f"{path}/diagnoses", nurse, json=diagnosis).status_code == 403
    assert clinical.call("POST", f"{path}/treatments", nurse, json=medication).status_code == 403
    vitals = {"kind": "temperatura", "value": "37.8", "unit": "°C"}
    assert clinical.call("POST", f"{path}/observations", nurse, json=vitals).status_code == 201
    assert clinical.call("PATCH", path, nurse, json={"notes": "Refiere tos"}).status_code == 200

    assert clinical.call("POST", f"{path}/diagnoses", doctor, json=diagnosis).status_code == 201
    assert clinical.call("POST", f"{path}/treatments", doctor, json=medication).status_code == 201
    assert clinical.call("POST", f"{path}/close", nurse).status_code == 403
    closed = clinical.call("POST", f"{path}/close", doctor, instance=1).json()
    assert closed["status"] == "finished" and len(closed["diagnoses"]) == 1
    assert "Refiere tos" in closed["notes"] and closed["observations"][0]["value"] == "37.8"

    late = clinical.call("POST", f"{path}/diagnoses", doctor, json=diagnosis)
    assert late.status_code == 409
    assert clinical.call("DELETE", path, doctor).status_code == 405, "nothing is hard-deleted"


@pytest.mark.parametrize(
    ("payload", "status", "says"),
    [
        (
            {
                "patient_rut": "12345678-9",
                "doctor_id": 1,
                "starts_at": "2026-12-01T10:00",
                "reason": "x",
            },
            422,
            "dígito verificador",
        ),
        (
            {
                "patient_rut": "11111111-1",
                "doctor_id": 999,
                "starts_at": "2026-12-01T10:00",
                "reason": "x",
            },
            404,
            "médico",
        ),
        (
            {
                "patient_rut": "11111111-1",
                "doctor_id": 5,
                "starts_at": "2026-12-01T10:00",
                "reason": "x",
            },
            404,
            "médico",
        ),
        (
            {"patient_rut": "11111111-1", "doctor_id": 1, "starts_at": "el lunes", "reason": "x"},
            422,
            "fecha",
        ),
        (
            {
                "patient_rut": "11111111-1",
                "doctor_id": "uno",
                "starts_at": "2026-12-01T10:00",
                "reason": "x",
            },
            422,
            "número entero",
        ),
        ({"patient_rut": "11111111-1", "doctor_id": 1}, 422, "falta este campo"),
        (
            {
                "patient_rut": "11111111-1",
                "doctor_id": 1,
                "starts_at": "2026-12-01T10:00",
                "reason": "x",
                "id": 7,
            },
            422,
            "no permitido",
        ),
    ],
)
def test_bad_consultations_get_a_clear_4xx_and_nothing_is_written(
    clinical: Clinical, doctor: str, payload: dict[str, Any], status: int, says: str
) -> None:
    engine = clinical.cluster.node_engine(clinical.cluster.roles("clinical")[0])
    before = count_rows(engine, "consultations")
    answer = clinical.call("POST", "/api/consultations", doctor, json=payload)
    assert answer.status_code == status, answer.text
    assert says in answer.text
    assert count_rows(engine, "consultations") == before


def test_malformed_bodies_and_codes(clinical: Clinical, doctor: str) -> None:
    raw = clinical.call(
        "POST",
        "/api/consultations",
        doctor,
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert raw.status_code == 400
    bad_code = clinical.call(
        "POST", "/api/consultations/1/diagnoses", doctor, json={"code": "XYZ", "description": "x"}
    )
    assert bad_code.status_code == 422 and "CIE-10" in bad_code.text
    assert clinical.call("GET", "/api/patients/abc/history", doctor).status_code == 422


def _free_slot(clinical: Clinical, token: str, specialty: str) -> dict[str, Any]:
    slots = clinical.call("GET", f"/api/slots?specialty={specialty}&limit=50", token).json()[
        "slots"
    ]
    assert slots, "the demo data has free slots"
    return dict(slots[-1])


def test_two_concurrent_reservations_of_one_slot_never_both_succeed(
    clinical: Clinical, nurse: str
) -> None:
    slot = _free_slot(clinical, nurse, "Pediatría")
    results: list[int] = []
    patients = ["11111111-1", "22222222-2", "33333333-3", "6-K"] * 2

    def reserve(index: int) -> None:
        answer = clinical.call(
            "POST",
            f"/api/slots/{slot['id']}/reserve",
            nurse,
            instance=index % 2,
            json={"patient_rut": patients[index]},
            headers={"Idempotency-Key": f"race-{uuid.uuid4().hex}"},
        )
        results.append(answer.status_code)

    threads = [threading.Thread(target=reserve, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200] + [409] * 7


def test_reservation_is_idempotent_and_release_needs_its_key(
    clinical: Clinical, nurse: str
) -> None:
    slot = _free_slot(clinical, nurse, "Cardiología")
    service = clinical.relayed(Role.PATIENT, "22222222-2")
    path = f"/api/slots/{slot['id']}"
    key = {"Idempotency-Key": f"booking-{uuid.uuid4().hex}"}
    body = {"patient_rut": "22222222-2"}
    first = clinical.call("POST", f"{path}/reserve", service, json=body, headers=key)
    again = clinical.call("POST", f"{path}/reserve", service, json=body, headers=key, instance=1)
    assert first.status_code == again.status_code == 200
    assert again.json()["status"] == "reserved" and again.json()["patient_rut"] == "22222222-2"
    other = {"Idempotency-Key": "someone-else-key"}
    assert clinical.call("POST", f"{path}/release", service, headers=other).status_code == 409
    assert clinical.call("POST", f"{path}/release", service, headers=key).json()["status"] == "free"
    assert clinical.call("POST", f"{path}/release", service, headers=key).status_code == 200
    assert clinical.call("POST", f"{path}/reserve", service, json=body).status_code == 400
    blocked = clinical.call("POST", f"{path}/block", nurse, json={"reason": "Reunión clínica"})
    assert blocked.json()["status"] == "blocked"
    taken = clinical.call("POST", f"{path}/reserve", service, json=body, headers=key)
    assert taken.status_code == 409 and "no está disponible" in taken.json()["message"]


def test_the_original_routes_still_work(clinical: Clinical, doctor: str) -> None:
    doctors = clinical.call("GET", "/medicos/", doctor).json()["medicos"]
    assert {d["specialty"] for d in doctors} >= {"Cardiología", "Pediatría"}
    created = clinical.call(
        "POST",
        "/consultas/",
        doctor,
        json={
            "paciente_rut": "22.222.222-2",
            "medico_rut": doctors[0]["rut"],
            "fecha": "2026-12-02T11:00",
            "motivo": "Dolor abdominal",
        },
    )
    assert created.status_code == 201, created.text
    mine = clinical.call("GET", "/consultas/paciente/22222222-2", doctor).json()["consultas"]
    assert any(c["reason"] == "Dolor abdominal" for c in mine)
    assert clinical.call("GET", "/consultas/", doctor).status_code == 200
    assert clinical.call("GET", "/medicos/").status_code == 401


def test_history_is_served_while_the_clinical_primary_dies(clinical: Clinical, doctor: str) -> None:
    lab = Lab(clinical.cluster.settings, say=lambda message: None)
    pair = pair_named("clinical")
    lab.wait_ready(pair)
    old = lab.state(pair).primary
    lab.kill(old)
    answers = []
    for attempt in range(20):
        answer = clinical.call(
            "GET", f"/api/patients/{PATIENT}/history", doctor, instance=attempt % 2
        )
        answers.append(answer.status_code)
    assert answers == [200] * 20
    eventually(lambda: lab.state(pair).primary != old, what="automatic promotion")
    lab.start(old)
    lab.wait_ready(pair)
