"""The admin service through the real nginx on the real PostgreSQL pair."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from medsys.core.tokens import Role, Service
from tests.conftest import MedsysCluster, count_rows, eventually

pytestmark = pytest.mark.integration


class Admin:
    def __init__(self, cluster: MedsysCluster) -> None:
        self.cluster = cluster
        self.url = f"http://127.0.0.1:{cluster.settings.port('nginx')}"
        self.clerk = cluster.token(Role.CLERK, "adm.vera")
        self.accountant = cluster.token(Role.ACCOUNTANT, "cont.lagos")

    def relayed(self, role: Role, subject: str) -> str:
        """The middleware's token acting for a person."""
        return self.cluster.relayed(Service.ADMIN, role, subject)

    def call(self, method: str, path: str, token: str | None, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.request(method, self.url + path, headers=headers, timeout=30, **kwargs)

    def new_patient(self, coverage: dict[str, Any] | None = None) -> str:
        body = uuid.uuid4().int % 50_000_000 + 40_000_000
        from medsys.core.rut import check_digit

        rut = f"{body}-{check_digit(body)}"
        created = self.call("POST", "/patients", self.clerk, json={"rut": rut, "nombre": "Prueba"})
        assert created.status_code == 201, created.text
        if coverage:
            added = self.call(
                "POST",
                f"/patients/{rut}/coverage",
                self.clerk,
                json={"valid_from": "2026-01-01", **coverage},
            )
            assert added.status_code == 201, added.text
        return rut

    def invoice(self, rut: str, *amounts: int) -> dict[str, Any]:
        lines = [{"kind": "consultation", "description": "Consulta", "amount": a} for a in amounts]
        issued = self.call(
            "POST", "/invoices", self.accountant, json={"patient_rut": rut, "lines": lines}
        )
        assert issued.status_code == 201, issued.text
        return dict(issued.json())

    def pay(
        self, rut: str, amount: int, invoice: str | None = None, key: str | None = None
    ) -> httpx.Response:
        body: dict[str, Any] = {"patient_rut": rut, "amount": amount}
        if invoice:
            body["allocations"] = [{"invoice": invoice, "amount": amount}]
        headers = {"Idempotency-Key": key or f"pay-{uuid.uuid4().hex}"}
        return self.call("POST", "/payments", self.accountant, json=body, headers=headers)

    def rows(self, sql: str, **params: object) -> int:
        engine = self.cluster.database("admin")
        try:
            return int(engine.read(lambda s: s.execute(text(sql), params).scalar_one()))
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def admin(cluster: MedsysCluster) -> Admin:
    return Admin(cluster)


def test_the_seeds_patient_calls_work_through_nginx_with_a_token(admin: Admin) -> None:
    seed = {
        "rut": "99999999-9",
        "nombre": "Test",
        "email": "test@test.com",
        "telefono": "123456789",
        "direccion": "Test St",
    }
    assert admin.call("POST", "/patients", None, json=seed).status_code == 401
    created = admin.call("POST", "/patients", admin.clerk, json=seed)
    assert created.status_code in (201, 409), created.text
    listed = admin.call("GET", "/patients", admin.clerk).json()
    assert any(p["rut"] == "99999999-9" for p in listed)
    by_rut = admin.call("GET", "/patients?rut=99.999.999-9", admin.clerk).json()
    assert [p["nombre"] for p in by_rut] == ["Test"]
    assert (
        admin.call("GET", "/patients/99999999-9", admin.clerk).json()["telefono"] == "+56123456789"
    )
    replica = admin.cluster.node_engine("postgres_replica", "app2")
    eventually(
        lambda: count_rows(replica, "patients WHERE rut = '99999999-9'") == 1,
        what="the patient on postgres_replica",
    )


def test_patients_and_clinical_staff_reach_admin_only_through_the_middleware(
    admin: Admin,
) -> None:
    cluster = admin.cluster
    for role, subject in ((Role.PATIENT, "11111111-1"), (Role.DOCTOR, "dra.soto")):
        own = cluster.token(role, subject, audience=Service.ADMIN)
        assert admin.call("GET", "/patients/11111111-1", own).status_code == 401
    doctor = admin.relayed(Role.DOCTOR, "dra.soto")  # a history joins demographics
    assert admin.call("GET", "/patients/11111111-1/summary", doctor).status_code == 200
    # The clinical workspace finds patients by name or RUT, never the whole registry.
    found = admin.call("GET", "/patients?q=pérez", doctor)
    assert found.status_code == 200
    assert {(p["rut"], p["fecha_nacimiento"], p["sexo"]) for p in found.json()} >= {
        ("11111111-1", "1978-05-14", "masculino")
    }
    assert admin.call("GET", "/patients", doctor).status_code == 422
    # "-" is in every RUT: punctuation alone is not saying whom one looks for.
    for nothing in ("-", " . - "):
        assert admin.call("GET", "/patients", doctor, params={"q": nothing}).status_code == 422
    assert admin.call("GET", "/payments/11111111-1", doctor).status_code == 403
    patient = admin.relayed(Role.PATIENT, "11111111-1")
    assert admin.call("GET", "/payments/11111111-1", patient).status_code == 200
    assert admin.call("GET", "/payments/22222222-2", patient).status_code == 403
    assert admin.call("GET", "/patients", patient).status_code == 403
    assert admin.call("POST", "/invoices", admin.clerk, json={}).status_code == 403


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"rut": "12345678-9", "nombre": "X"}, "dígito verificador"),
        ({"rut": "11111111-1", "nombre": "X"}, "Ya existe"),
        ({"rut": "5-1", "nombre": ""}, "vacío"),
        ({"rut": "5-1", "nombre": "X", "email": "sin-arroba"}, "correo"),
        ({"rut": "5-1", "nombre": "X", "telefono": "12"}, "teléfono"),
        ({"rut": "5-1", "nombre": "X", "edad": 3}, "no permitido"),
        ({"rut": "5-1", "nombre": "X", "fecha_nacimiento": "2999-01-01"}, "nacimiento"),
        ({"rut": "5-1", "nombre": "X", "sexo": "F"}, "sexo"),
    ],
)
def test_bad_patients_are_refused_and_nothing_is_written(
    admin: Admin, body: dict[str, Any], says: str
) -> None:
    before = admin.rows("SELECT COUNT(*) FROM patients")
    answer = admin.call("POST", "/patients", admin.clerk, json=body)
    assert answer.status_code in (409, 422) and says in answer.text, answer.text
    assert admin.rows("SELECT COUNT(*) FROM patients") == before


def test_copay_follows_the_coverage(admin: Admin) -> None:
    isapre = admin.new_patient({"insurer": "ISAPRE", "plan": "Banmédica", "percent": 70})
    invoice = admin.invoice(isapre, 10_001)
    assert (invoice["insurer_share"], invoice["copay"], invoice["status"]) == (
        7_000,
        3_001,
        "issued",
    )
    mai = admin.new_patient({"insurer": "FONASA", "tramo": "B", "modality": "MAI"})
    assert admin.invoice(mai, 35_000)["copay"] == 0
    none = admin.new_patient()
    assert admin.invoice(none, 25_000)["coverage"] == "PARTICULAR"
    bad = admin.call(
        "POST",
        f"/patients/{none}/coverage",
        admin.clerk,
        json={"insurer": "BANCO", "valid_from": "2026-01-01"},
    )
    assert bad.status_code == 422 and "insurer" in bad.text


def test_a_payment_retried_with_its_key_is_recorded_once(admin: Admin) -> None:
    rut = admin.new_patient()
    invoice = admin.invoice(rut, 20_000)
    key = f"double-click-{uuid.uuid4().hex}"
    answers: list[int] = []

    def pay() -> None:
        answers.append(admin.pay(rut, 5_000, invoice["number"], key=key).status_code)

    threads = [threading.Thread(target=pay) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [200, 200, 200, 201]
    assert admin.rows("SELECT COUNT(*) FROM payments WHERE idempotency_key = :k", k=key) == 1
    reused = admin.pay(rut, 6_000, invoice["number"], key=key)
    assert reused.status_code == 409 and "otro pago" in reused.text
    balance = admin.call("GET", f"/patients/{rut}/balance", admin.relayed(Role.PATIENT, rut)).json()
    assert balance["outstanding"] == 15_000


def test_bad_payments_are_refused_and_change_nothing(admin: Admin) -> None:
    rut = admin.new_patient()
    invoice = admin.invoice(rut, 10_000)
    before = admin.rows("SELECT COUNT(*) FROM payments")
    for amount in (-5, 0, 10.5, "diez"):
        assert admin.pay(rut, amount, invoice["number"]).status_code == 422  # type: ignore[arg-type]
    over = admin.pay(rut, 10_001, invoice["number"])
    assert over.status_code == 422 and "excede" in over.text
    missing_key = admin.call(
        "POST", "/payments", admin.accountant, json={"patient_rut": rut, "amount": 100}
    )
    assert missing_key.status_code == 400 and "Idempotency-Key" in missing_key.text
    other = admin.invoice(admin.new_patient(), 5_000)
    foreign = admin.pay(rut, 1_000, other["number"])
    assert foreign.status_code == 422 and "no es de este paciente" in foreign.text
    assert admin.rows("SELECT COUNT(*) FROM payments") == before


def test_void_refund_and_status(admin: Admin) -> None:
    rut = admin.new_patient()
    invoice = admin.invoice(rut, 30_000)
    number = invoice["number"]
    paid = admin.pay(rut, 30_000, number).json()
    status = admin.call("GET", f"/invoices/{rut}", admin.accountant).json()[0]["status"]
    assert status == "paid"
    blocked = admin.call(
        "POST", f"/invoices/{number}/void", admin.accountant, json={"reason": "error"}
    )
    assert blocked.status_code == 409
    refund = admin.call(
        "POST",
        f"/payments/{paid['id']}/refund",
        admin.accountant,
        json={"amount": 30_000, "reason": "cobro duplicado"},
        headers={"Idempotency-Key": f"refund-{uuid.uuid4().hex}"},
    )
    assert refund.status_code == 201 and refund.json()["kind"] == "refund"
    voided = admin.call(
        "POST", f"/invoices/{number}/void", admin.accountant, json={"reason": "error"}
    )
    assert voided.json()["status"] == "void"
    again = admin.pay(rut, 1_000, number)
    assert again.status_code == 409 and "anulada" in again.text
    history = admin.call("GET", f"/payments/{rut}", admin.accountant).json()
    assert [p["kind"] for p in history] == ["payment", "refund"], "nothing is deleted"


def test_patient_reads_are_audited(admin: Admin) -> None:
    before = admin.rows(
        "SELECT COUNT(*) FROM audit_log WHERE actor = 'adm.vera' AND patient_rut = '22222222-2'"
    )
    admin.call("GET", "/patients/22222222-2", admin.clerk)
    after = admin.rows(
        "SELECT COUNT(*) FROM audit_log WHERE actor = 'adm.vera' AND patient_rut = '22222222-2'"
    )
    assert after == before + 1


def test_killing_an_admin_instance_loses_no_request(admin: Admin) -> None:
    statuses: list[int] = []
    served_by: set[str] = set()

    def reads() -> None:
        with httpx.Client(timeout=30) as client:
            for _ in range(150):
                answer = client.get(
                    admin.url + "/patients/11111111-1",
                    headers={"Authorization": f"Bearer {admin.clerk}"},
                )
                statuses.append(answer.status_code)
                served_by.add(answer.headers.get("X-Served-By", "?"))

    reader = threading.Thread(target=reads)
    reader.start()
    admin.cluster.kill("app2-1")
    reader.join()
    assert statuses == [200] * 150
    assert "app2-2" in served_by
    eventually(lambda: admin.cluster.status()["app2-1"].health == "ok", what="app2-1 restarted")
