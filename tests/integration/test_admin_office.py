"""Admin's front office over HTTP through nginx on the live stack: login, a clerk's
patient pages, forms recorded once also when the instance that took the first submission
dies, CSRF, roles refused by the server, HTML errors, and every read audited."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable

import pyotp
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from medsys.core.db import ReplicatedDatabase
from medsys.core.rut import check_digit
from medsys.core.tokens import Role
from tests.conftest import MedsysCluster, client_from, next_address

pytestmark = pytest.mark.integration


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "every form carries a CSRF token"
    return found.group(1)


class Office:
    def __init__(self, cluster: MedsysCluster) -> None:
        self.cluster = cluster
        self.client = client_from(
            next_address(),
            base_url=f"http://127.0.0.1:{cluster.settings.port('nginx')}",
            follow_redirects=True,
        )

    def log_in(self, username: str, password: str | None = None) -> str:
        page = self.client.get("/oficina/ingresar")
        answer = self.client.post(
            "/oficina/ingresar",
            data={
                "csrf_token": csrf(page.text),
                "usuario": username,
                "clave": password or self.cluster.password(username),
            },
        )
        return answer.text

    def post(self, page: str, action: str, fields: dict[str, str], key: str = "") -> str:
        drawn = self.client.get(page)
        data = {"csrf_token": csrf(drawn.text), "idempotency_key": key or uuid.uuid4().hex}
        return self.client.post(action, data={**data, **fields}).text


def fresh_rut() -> str:
    body = uuid.uuid4().int % 9_000_000 + 60_000_000
    return f"{body}-{check_digit(body)}"


def rows(cluster: MedsysCluster, sql: str, **params: object) -> int:
    db = cluster.database("admin")
    try:
        return int(db.read(lambda s: s.execute(text(sql), params).scalar_one()))
    finally:
        db.dispose()


def test_a_clerk_registers_a_patient_and_adds_coverage(cluster: MedsysCluster) -> None:
    office = Office(cluster)
    assert "<h1>Pacientes</h1>" in office.log_in("adm.vera")
    rut = fresh_rut()
    made = office.post(
        "/oficina/pacientes/nuevo",
        "/oficina/pacientes",
        {
            "rut": rut,
            "nombre": "Rosa Valdés",
            "fecha_nacimiento": "1990-02-03",
            "sexo": "femenino",
            "telefono": "+56 9 8765 4321",
            "contacto_emergencia": "Luis Valdés",
            "telefono_emergencia": "+56 9 1234 5678",
        },
    )
    assert "Paciente inscrito." in made and "<h1>Rosa Valdés</h1>" in made
    assert "1990-02-03" in made and "Luis Valdés" in made
    assert "sin correo registrado no puede crear su cuenta" in made  # of the portal
    found = office.client.get("/oficina/pacientes", params={"q": "valdés"}).text
    assert rut in found
    page = f"/oficina/pacientes/{rut}"
    covered = office.post(
        page,
        f"{page}/prevision",
        {"insurer": "FONASA", "tramo": "B", "modality": "MAI", "valid_from": "2026-01-01"},
    )
    assert "Previsión registrada." in covered and "tramo B" in covered
    wrong = office.post(page, f"{page}/prevision", {"insurer": "FONASA", "valid_from": "x"})
    assert 'role="alert"' in wrong and "valid_from" in wrong
    reads = rows(
        cluster,
        "SELECT COUNT(*) FROM audit_log WHERE actor = 'adm.vera' AND patient_rut = :r",
        r=rut,
    )
    assert reads >= 3, "registration, coverage and every read of the page are audited"


def test_a_form_resent_after_its_instance_died_is_recorded_once(cluster: MedsysCluster) -> None:
    office = Office(cluster)
    office.log_in("adm.vera")
    rut = fresh_rut()
    key = uuid.uuid4().hex
    fields = {"rut": rut, "nombre": "Tomás Rivas"}
    first = office.post("/oficina/pacientes/nuevo", "/oficina/pacientes", fields, key)
    assert "Paciente inscrito." in first
    cluster.kill("app2-1")
    try:
        again = office.post("/oficina/pacientes/nuevo", "/oficina/pacientes", fields, key)
        assert "se había enviado" in again and "<h1>Tomás Rivas</h1>" in again
    finally:
        cluster.start("app2-1")
    assert rows(cluster, "SELECT COUNT(*) FROM patients WHERE rut = :r", r=rut) == 1


def test_forged_forms_strangers_and_the_wrong_role_are_refused(cluster: MedsysCluster) -> None:
    stranger = Office(cluster)
    assert "Ingreso de recepción y contabilidad" in stranger.client.get("/oficina/pacientes").text
    accountant = Office(cluster)
    accountant.log_in("cont.lagos")
    page = accountant.client.get("/oficina/pacientes/11111111-1")
    assert page.status_code == 200 and "Registrar previsión" not in page.text
    refused = accountant.client.post(
        "/oficina/pacientes/11111111-1/prevision",
        data={
            "csrf_token": csrf(page.text),
            "idempotency_key": uuid.uuid4().hex,
            "insurer": "FONASA",
            "valid_from": "2026-01-01",
        },
    )
    assert refused.status_code == 403 and "Su rol no permite esta acción." in refused.text
    forged = accountant.client.post("/oficina/salir", data={"csrf_token": "not-the-session-token"})
    assert forged.status_code == 403 and "El formulario expiró o fue alterado" in forged.text
    missing = accountant.client.get("/oficina/pacientes/12345678-5")
    assert missing.status_code == 404 and "<h1>No se pudo completar</h1>" in missing.text


def _csv_rows(text_: str) -> list[list[str]]:
    return [line.split(";") for line in text_.lstrip("\ufeff").strip().split("\r\n")[1:]]


def test_the_reports_reconcile_with_the_ledger(cluster: MedsysCluster) -> None:
    office = Office(cluster)
    office.log_in("cont.lagos")
    page = "/oficina/pacientes/11111111-1"
    issued = office.post(
        page,
        f"{page}/facturas",
        {"tipo1": "consultation", "detalle1": "Consulta", "monto1": "20.000"},
    )
    assert "Factura emitida." in issued
    paid = office.post(page, f"{page}/pagos", {"monto": "3000", "medio": "efectivo"})
    assert "Pago registrado." in paid
    payment = re.findall(r"/oficina/pagos/(\d+)/reembolso", paid)[-1]
    refunded = office.post(
        page, f"/oficina/pagos/{payment}/reembolso", {"monto": "500", "motivo": "Vuelto"}
    )
    assert "Reembolso registrado." in refunded
    assert "Cierre de caja" in office.client.get("/oficina/informes").text

    closing = _csv_rows(office.client.get("/oficina/informes/caja.csv").text)
    ledger = rows(
        cluster,
        "SELECT COALESCE(SUM(CASE WHEN kind = 'payment' THEN amount ELSE -amount END), 0) "
        "FROM payments WHERE (received_at AT TIME ZONE 'America/Santiago')::date = "
        "(now() AT TIME ZONE 'America/Santiago')::date",
    )
    assert sum(int(row[5]) for row in closing) == ledger
    by_method = {
        method: rows(
            cluster,
            "SELECT COALESCE(SUM(CASE WHEN kind = 'payment' THEN amount ELSE -amount END), 0) "
            "FROM payments WHERE method = :m AND (received_at AT TIME ZONE "
            "'America/Santiago')::date = (now() AT TIME ZONE 'America/Santiago')::date",
            m=method,
        )
        for method in {row[1] for row in closing}
    }
    for method, net in by_method.items():
        assert sum(int(row[5]) for row in closing if row[1] == method) == net

    aging = _csv_rows(office.client.get("/oficina/informes/morosidad.csv").text)
    for rut, *buckets in aging:
        owed = rows(
            cluster,
            "SELECT COALESCE(SUM(i.copay), 0) - COALESCE((SELECT SUM(a.amount) FROM allocations a "
            "JOIN invoices j ON j.id = a.invoice_id WHERE j.patient_rut = :r AND NOT j.voided), 0) "
            "FROM invoices i WHERE i.patient_rut = :r AND NOT i.voided",
            r=rut,
        )
        assert sum(int(b) for b in buckets) == owed, rut
    assert any(row[0] == "11111111-1" for row in aging)


def test_a_booking_by_phone_holds_the_clinical_slot_until_cancelled(
    cluster: MedsysCluster,
) -> None:
    office = Office(cluster)
    office.log_in("adm.vera")
    rut = "22222222-2"
    search = office.client.get(
        f"/oficina/pacientes/{rut}/agendar", params={"especialidad": "Medicina General"}
    ).text
    slot = re.findall(r'name="hora" value="(\d+)"', search)[0]
    key = uuid.uuid4().hex
    booked = office.post(
        f"/oficina/pacientes/{rut}/agendar",
        f"/oficina/pacientes/{rut}/agendar",
        {"hora": slot},
        key,
    )
    assert "Hora agendada." in booked
    again = office.post(
        f"/oficina/pacientes/{rut}/agendar",
        f"/oficina/pacientes/{rut}/agendar",
        {"hora": slot},
        key,
    )
    assert "se había enviado" in again, "a resent booking is the same booking"
    clinical = cluster.database("clinical")

    def held() -> tuple[str, str | None]:
        row = clinical.read(
            lambda s: s.execute(
                text("SELECT status, patient_rut FROM slots WHERE id = :i"), {"i": int(slot)}
            ).one()
        )
        return str(row[0]), row[1]

    try:
        assert held() == ("reserved", rut)
        assert (
            rows(cluster, "SELECT COUNT(*) FROM phone_bookings WHERE reservation_key = :k", k=key)
            == 1
        )
        booking = re.findall(r"/oficina/horas/(\d+)/anular", booked)[-1]
        cancelled = office.post(f"/oficina/pacientes/{rut}", f"/oficina/horas/{booking}/anular", {})
        assert "Hora anulada." in cancelled
        assert held() == ("free", None)
    finally:
        clinical.dispose()


class Doctor:
    """dr.rojas over clinical's JSON API: opens consultations and closes them."""

    def __init__(self, cluster: MedsysCluster) -> None:
        import httpx

        from medsys.core.tokens import Role

        self.client = httpx.Client(
            base_url=f"http://127.0.0.1:{cluster.settings.port('app1')}",
            headers={"Authorization": f"Bearer {cluster.token(Role.DOCTOR, 'dr.rojas')}"},
        )
        doctors = self.client.get("/api/doctors").json()["doctors"]
        self.doctor_id = next(d["id"] for d in doctors if "Rojas" in d["name"])

    def open(self, starts_at: str, procedure: str) -> int:
        opened = self.client.post(
            "/api/consultations",
            json={
                "patient_rut": "33333333-3",
                "doctor_id": self.doctor_id,
                "starts_at": starts_at,
                "reason": "Control",
            },
        ).json()
        added = self.client.post(
            f"/api/consultations/{opened['id']}/treatments",
            json={"kind": "procedure", "description": procedure},
        )
        assert added.status_code == 201, added.text
        return int(opened["id"])

    def close(self, consultation: int) -> None:
        closed = self.client.post(f"/api/consultations/{consultation}/close")
        assert closed.status_code == 200, closed.text


def test_a_closed_consultation_becomes_charges_and_then_an_invoice(
    cluster: MedsysCluster,
) -> None:
    doctor = Doctor(cluster)
    procedure = {"kind": "procedure", "description": f"Nebulización {uuid.uuid4().hex[:4]}"}
    consultation = doctor.open("2026-11-30T10:00", procedure["description"])
    doctor.close(consultation)

    office = Office(cluster)
    office.log_in("cont.lagos")
    brought = office.post("/oficina/cargos", "/oficina/cargos/traer", {})
    assert "Consultas cerradas revisadas." in brought
    assert procedure["description"] in brought and "sin precio" in brought
    again = office.post("/oficina/cargos", "/oficina/cargos/traer", {})
    assert again.count(procedure["description"]) == 1, "a consultation is charged once"
    priced = office.post(
        "/oficina/cargos",
        "/oficina/cargos/precios",
        {"tipo": "procedure", "nombre": procedure["description"], "monto": "9.000"},
    )
    assert "Precio guardado." in priced
    page = "/oficina/pacientes/33333333-3"
    invoiced = office.post(page, f"{page}/facturar-cargos", {})
    assert "Factura emitida desde los cargos." in invoiced
    assert (
        rows(
            cluster,
            "SELECT COUNT(*) FROM charges "
            "WHERE consultation_id = :c AND invoice_number IS NOT NULL",
            c=consultation,
        )
        == 2
    ), "the consultation and its procedure, both on the invoice"
    number = re.findall(r'id="factura-([A-Z0-9-]+)"', invoiced)[-1]
    total = rows(cluster, "SELECT total FROM invoices WHERE number = :n", n=number)
    assert total >= 9_000 + 35_000


def test_a_consultation_booked_ahead_is_charged_when_it_closes_after_a_later_one(
    cluster: MedsysCluster,
) -> None:
    """Consultation ids follow booking order; charges follow closing order."""
    doctor = Doctor(cluster)
    next_week = f"Curación {uuid.uuid4().hex[:4]}"
    walk_in = f"Nebulización {uuid.uuid4().hex[:4]}"
    booked_ahead = doctor.open("2026-12-14T09:00", next_week)
    today = doctor.open("2026-12-07T09:00", walk_in)
    assert booked_ahead < today
    doctor.close(today)
    office = Office(cluster)
    office.log_in("cont.lagos")
    assert walk_in in office.post("/oficina/cargos", "/oficina/cargos/traer", {})
    doctor.close(booked_ahead)  # a week later
    brought = office.post("/oficina/cargos", "/oficina/cargos/traer", {})
    assert next_week in brought and brought.count(walk_in) == 1
    assert (
        rows(
            cluster,
            "SELECT COUNT(*) FROM charges WHERE consultation_id IN (:a, :b)",
            a=booked_ahead,
            b=today,
        )
        == 4
    ), "each consultation and its procedure, once"


def test_a_form_in_flight_when_its_instance_is_killed_is_recorded_once(
    cluster: MedsysCluster,
) -> None:
    """app2-1 is SIGKILLed a few milliseconds into the form's request; the person sends it
    again (the same page, the same key) through nginx until it goes through: one patient,
    whatever the first answer was (none, an error, or a success that was never shown)."""
    import os
    import signal

    office = Office(cluster)
    office.log_in("adm.vera")
    page = office.client.get("/oficina/pacientes/nuevo").text
    rut, key = fresh_rut(), uuid.uuid4().hex
    form = {"csrf_token": csrf(page), "idempotency_key": key, "rut": rut, "nombre": "Inés Mora"}
    pid = cluster.status()["app2-1"].pid
    assert pid
    first: list[str] = []

    def send_to_the_doomed_instance() -> None:
        direct = f"http://127.0.0.1:{cluster.settings.port('app2-1')}/oficina/pacientes"
        try:
            first.append(str(office.client.post(direct, data=form).status_code))
        except Exception as error:  # the connection died with the instance
            first.append(type(error).__name__)

    sender = threading.Thread(target=send_to_the_doomed_instance)
    sender.start()
    time.sleep(0.005)
    os.kill(pid, signal.SIGKILL)
    sender.join()
    try:
        answers = []
        for _ in range(20):
            answer = office.client.post("/oficina/pacientes", data=form)
            answers.append(answer.status_code)
            if answer.status_code == 200 and "<h1>Inés Mora</h1>" in answer.text:
                break
        assert answers[-1] == 200, (first, answers)
    finally:
        cluster.start("app2-1")
    assert rows(cluster, "SELECT COUNT(*) FROM patients WHERE rut = :r", r=rut) == 1, first


def test_office_sessions_and_forms_go_on_through_a_postgresql_failover(
    cluster: MedsysCluster,
) -> None:
    from tests.conftest import eventually

    office = Office(cluster)
    office.log_in("adm.vera")
    primary, _ = cluster.roles("admin")
    cluster.kill(primary)
    try:
        rut = fresh_rut()
        made = office.post(
            "/oficina/pacientes/nuevo", "/oficina/pacientes", {"rut": rut, "nombre": "Luz Paz"}
        )
        assert "Paciente inscrito." in made, "the form waited out the failover"
        assert "<h1>Luz Paz</h1>" in office.client.get(f"/oficina/pacientes/{rut}").text
    finally:
        eventually(lambda: cluster.roles("admin")[0] != primary, within=30, what="failover")
        cluster.start(primary)
    assert rows(cluster, "SELECT COUNT(*) FROM patients WHERE rut = :r", r=rut) == 1


def test_every_office_list_downloads_as_csv(cluster: MedsysCluster) -> None:
    clerk = Office(cluster)
    clerk.log_in("adm.vera")
    found = clerk.client.get("/oficina/pacientes.csv", params={"q": "pérez"})
    assert found.headers["content-type"].startswith("text/csv")
    assert _csv_rows(found.text)[0][:2] == ["11111111-1", "Juan Pérez"]
    accountant = Office(cluster)
    accountant.log_in("cont.lagos")
    for path, header in [
        ("/oficina/cargos.csv", "rut;consulta;tipo;detalle;monto"),
        ("/oficina/pacientes/11111111-1/movimientos.csv", "tipo;numero;fecha"),
        ("/oficina/informes/caja.csv", "fecha;medio"),
        ("/oficina/informes/morosidad.csv", "rut;0–30 días"),
        ("/oficina/informes/ingresos.csv", "mes;prevision"),
    ]:
        answer = accountant.client.get(path)
        assert answer.status_code == 200 and answer.text.lstrip("\ufeff").startswith(header), path
    assert clerk.client.get("/oficina/cargos.csv").status_code == 403, (
        "money lists are the accountant's"
    )


def test_the_office_login_asks_for_the_second_factor(cluster: MedsysCluster) -> None:
    from datetime import UTC, datetime, timedelta

    from tests.conftest import enrolled_with_second_factor

    username, password = cluster.new_staff(Role.ACCOUNTANT, "Contadora Prueba")
    admin = f"http://127.0.0.1:{cluster.settings.port('nginx')}"
    totp = enrolled_with_second_factor(admin, username, password)

    asks = Office(cluster).log_in(username, password)
    assert "Código de verificación" in asks and "<h1>Pacientes</h1>" not in asks
    office = Office(cluster)
    page = office.client.get("/oficina/ingresar")
    inside = office.client.post(
        "/oficina/ingresar",
        data={
            "csrf_token": csrf(page.text),
            "usuario": username,
            "clave": password,
            "codigo": totp.at(datetime.now(UTC) + timedelta(seconds=30)),
        },
    )
    assert "<h1>Pacientes</h1>" in inside.text


def test_a_clerk_changes_her_password_and_turns_on_a_second_factor(
    cluster: MedsysCluster,
) -> None:
    username, old = cluster.new_staff(Role.CLERK, "Rec. Prueba")
    office = Office(cluster)
    assert "<h1>Pacientes</h1>" in office.log_in(username, old)
    page = office.client.get("/oficina/cuenta").text
    assert "<h1>Mi cuenta</h1>" in page and "No activado" in page

    new = "otra-clave-bien-larga"
    mismatch = {"clave_actual": old, "clave_nueva": new, "clave_repetida": new + "?"}
    refused = office.post("/oficina/cuenta", "/oficina/cuenta/clave", mismatch)
    assert "no coinciden" in refused and "<h1>Mi cuenta</h1>" in refused
    wrong = {"clave_actual": "no-es-la-clave", "clave_nueva": new, "clave_repetida": new}
    assert "La contraseña actual no es correcta." in office.post(
        "/oficina/cuenta", "/oficina/cuenta/clave", wrong
    )
    fields = {"clave_actual": old, "clave_nueva": new, "clave_repetida": new}
    changed = office.post("/oficina/cuenta", "/oficina/cuenta/clave", fields)
    assert "Contraseña cambiada. Ingrese con la nueva." in changed
    assert "Ingreso de recepción y contabilidad" in changed  # this session ended with it
    assert "Usuario o contraseña incorrectos." in Office(cluster).log_in(username, old)
    assert "<h1>Pacientes</h1>" in office.log_in(username, new)

    shown = office.post("/oficina/cuenta", "/oficina/cuenta/segundo-factor", {"clave": new})
    found = re.search(r'id="clave-secreta">([A-Z2-7]+)<', shown)
    assert found, "the page shows the secret to enter in the app"
    totp = pyotp.TOTP(found.group(1))
    confirmed = office.post(
        "/oficina/cuenta", "/oficina/cuenta/segundo-factor/confirmar", {"codigo": totp.now()}
    )
    assert "Segundo factor activado" in confirmed and "Activado:" in confirmed
    assert "Código de verificación" in Office(cluster).log_in(username, new)

    # A lost phone: `medsys user reset-second-factor` removes it and ends her sessions.
    removed = cluster.medsys("user", "reset-second-factor", username).stdout
    assert f"{username}: second factor removed" in removed
    assert "Ingreso de recepción y contabilidad" in office.client.get("/oficina/cuenta").text
    assert "<h1>Pacientes</h1>" in office.log_in(username, new)
    assert "No activado" in office.client.get("/oficina/cuenta").text
    # Each change to the account is on admin's audit log: by whom, to whose account.
    changes = {
        (actor, action)
        for actor, action in cluster.rows_of(
            "admin",
            "SELECT actor, action FROM audit_log WHERE resource = :r",
            r=f"cuenta:{username}",
        )
    }
    assert changes == {
        ("operador", "create"),
        (username, "change-password"),
        (username, "enable-second-factor"),
        ("operador", "reset-second-factor"),
    }
    mine = office.client.get("/oficina/mis-acciones").text
    assert "cambió la contraseña" in mine and "activó el segundo factor" in mine


def test_an_account_administrator_manages_office_staff_on_the_users_page(
    cluster: MedsysCluster,
) -> None:
    boss = Office(cluster)
    assert 'href="/oficina/usuarios"' in boss.log_in("adm.vera")
    accountant = Office(cluster)
    assert 'href="/oficina/usuarios"' not in accountant.log_in("cont.lagos")
    assert accountant.client.get("/oficina/usuarios").status_code == 403

    username = f"t.{uuid.uuid4().hex[:8]}"
    fields = {"usuario": username, "nombre": "Caja Nueva", "rol": "accountant"}
    wrong = boss.post("/oficina/usuarios", "/oficina/usuarios", {**fields, "rol": "doctor"})
    assert "Aquí solo se crean cuentas con rol" in wrong and username not in wrong
    key = uuid.uuid4().hex
    made = boss.post("/oficina/usuarios", "/oficina/usuarios", fields, key)
    shown = re.search(r'id="clave-entregada">([^<]+)<', made)
    assert shown and "Cuenta creada:" in made
    again = boss.post("/oficina/usuarios", "/oficina/usuarios", fields, key)
    assert "ya se había enviado" in again and shown.group(1) not in again
    newcomer = Office(cluster)
    assert "<h1>Pacientes</h1>" in newcomer.log_in(username, shown.group(1))
    assert 'href="/oficina/informes"' in newcomer.client.get("/oficina/pacientes").text

    reset = boss.post("/oficina/usuarios", f"/oficina/usuarios/{username}/clave", {})
    second = re.search(r'id="clave-entregada">([^<]+)<', reset)
    assert second and second.group(1) != shown.group(1)
    assert "Ingreso de recepción y contabilidad" in newcomer.client.get("/oficina/cuenta").text
    gone = boss.post("/oficina/usuarios", f"/oficina/usuarios/{username}/desactivar", {})
    assert f"Cuenta {username} desactivada" in gone
    assert "<h1>Pacientes</h1>" not in Office(cluster).log_in(username, second.group(1))
    changes = {
        action
        for (action,) in cluster.rows_of(
            "admin",
            "SELECT action FROM audit_log WHERE actor = 'adm.vera' AND resource = :r",
            r=f"cuenta:{username}",
        )
    }
    assert changes == {"create", "reset-password", "deactivate"}


def test_a_clerk_removes_the_portal_second_factor_of_a_patient_who_lost_the_phone(
    cluster: MedsysCluster,
) -> None:
    from tests.integration.test_portal import Browserless

    secret = pyotp.random_base32()
    office = Office(cluster)
    office.log_in("adm.vera")
    rut = fresh_rut()
    office.post("/oficina/pacientes/nuevo", "/oficina/pacientes", {"rut": rut, "nombre": "Ana Paz"})
    cluster.new_patient_account("clave-de-ana-2026", totp_secret=secret, rut=rut)
    portal = Browserless(cluster)
    page = f"/oficina/pacientes/{rut}"
    action = f"{page}/portal/quitar-segundo-factor"
    assert "Quitar segundo factor del portal" in office.client.get(page).text

    unchecked = office.post(page, action, {})
    assert "Primero verifique la cédula de identidad del paciente." in unchecked
    assert portal.login(rut, "clave-de-ana-2026").headers["location"].endswith("/codigo")

    key = uuid.uuid4().hex
    done = office.post(page, action, {"cedula_vista": "si"}, key)
    assert "Segundo factor del portal quitado" in done
    assert portal.login(rut, "clave-de-ana-2026").headers["location"].endswith("/")
    again = office.post(page, action, {"cedula_vista": "si"}, key)  # a double click
    assert "Segundo factor del portal quitado" not in again
    assert (
        rows(
            cluster,
            "SELECT COUNT(*) FROM audit_log WHERE patient_rut = :r AND actor = 'adm.vera'"
            " AND action = 'reset-second-factor' AND resource = 'portal-account'",
            r=rut,
        )
        == 1
    )
    portal_rows = cluster.rows_of(
        "portal", "SELECT actor, action FROM audit_log WHERE resource = :r", r=f"cuenta:{rut}"
    )
    assert portal_rows == [("adm.vera", "reset-second-factor")]

    accountant = Office(cluster)
    accountant.log_in("cont.lagos")
    shown = accountant.client.get(page)
    assert "Quitar segundo factor del portal" not in shown.text
    refused = accountant.client.post(
        action,
        data={
            "csrf_token": csrf(shown.text),
            "idempotency_key": uuid.uuid4().hex,
            "cedula_vista": "si",
        },
    )
    assert refused.status_code == 403 and "Su rol no permite esta acción." in refused.text
    without = fresh_rut()  # registered here, never opened a portal account
    office.post("/oficina/pacientes/nuevo", "/oficina/pacientes", {"rut": without, "nombre": "Eva"})
    told = office.post(
        f"/oficina/pacientes/{without}",
        f"/oficina/pacientes/{without}/portal/quitar-segundo-factor",
        {"cedula_vista": "si"},
    )
    assert "El paciente no tiene cuenta en el portal." in told


def _second_behind_the_first(
    db: ReplicatedDatabase,
    first: Callable[[Session], object],
    second: Callable[[Session], object],
) -> dict[str, object]:
    """``first`` runs in a transaction held open after it; ``second`` starts then, must
    still be waiting a second later, and goes on once the first commits. What each
    returned, or what the second raised."""
    first_done, first_may_commit = threading.Event(), threading.Event()
    outcomes: dict[str, object] = {}

    def first_held(session: Session) -> object:
        result = first(session)
        first_done.set()
        first_may_commit.wait(10)
        return result

    def run_second() -> None:
        try:
            outcomes["second"] = db.write(second)
        except Exception as failed:  # the test reports what went wrong
            outcomes["second"] = failed

    one = threading.Thread(target=lambda: outcomes.setdefault("first", db.write(first_held)))
    try:
        one.start()
        assert first_done.wait(10)
        two = threading.Thread(target=run_second)
        two.start()
        two.join(1.0)
        assert two.is_alive(), "the second waits for the first's charges"
        first_may_commit.set()
        one.join(10)
        two.join(10)
    finally:
        first_may_commit.set()
    return outcomes


def test_two_accountants_invoicing_one_patient_at_once_issue_one_invoice(
    cluster: MedsysCluster,
) -> None:
    """Both read the same pending charges; the second waits for the first and then finds
    them invoiced, on the real PostgreSQL primary."""
    import httpx

    from medsys.admin import records
    from medsys.admin.models import Charge
    from medsys.core.errors import InvalidInput

    rut = fresh_rut()
    registered = httpx.post(
        f"http://127.0.0.1:{cluster.settings.port('nginx')}/patients",
        headers={"Authorization": f"Bearer {cluster.token(Role.CLERK, 'adm.vera')}"},
        json={"rut": rut, "nombre": "Raúl Soto"},
    )
    assert registered.status_code == 201, registered.text
    consultation = uuid.uuid4().int % 1_000_000_000 + 1_000_000_000
    db = cluster.application_database("admin")
    try:
        db.write(
            lambda s: s.add_all(
                Charge(
                    consultation_id=consultation,
                    item=item,
                    patient_rut=rut,
                    kind="procedure",
                    description=item,
                    amount=10_000,
                    captured_by="cont.lagos",
                )
                for item in ("uno", "dos")
            )
        )

        def invoice(session: Session) -> str:
            return records.invoice_pending(session, rut=rut).number

        outcomes = _second_behind_the_first(db, invoice, invoice)
    finally:
        db.dispose()
    assert isinstance(outcomes["second"], InvalidInput), outcomes
    assert rows(cluster, "SELECT COUNT(*) FROM invoices WHERE patient_rut = :r", r=rut) == 1
    invoiced = rows(
        cluster,
        "SELECT COUNT(DISTINCT invoice_number) FROM charges WHERE consultation_id = :c",
        c=consultation,
    )
    assert invoiced == 1 and outcomes["first"]


def test_two_accountants_bringing_in_the_same_consultations_at_once_charge_them_once(
    cluster: MedsysCluster,
) -> None:
    """The second capture waits for the first's uncommitted charges, then skips them and
    says it added none: before, it failed on the unique pair with an error page."""
    from datetime import UTC, datetime

    from medsys.admin import records
    from medsys.admin.charges import Item

    consultation = uuid.uuid4().int % 1_000_000_000 + 1_000_000_000
    items = [
        Item(consultation, fresh_rut(), item, "procedure", item, 12_000, datetime.now(UTC))
        for item in ("curación", "sutura")
    ]
    db = cluster.application_database("admin")
    try:
        outcomes = _second_behind_the_first(
            db,
            lambda session: records.capture(session, items=items, author="cont.lagos"),
            lambda session: records.capture(session, items=items, author="cont.rivas"),
        )
    finally:
        db.dispose()
    assert outcomes == {"first": 2, "second": 0}, outcomes
    kept = rows(
        cluster,
        "SELECT COUNT(*) FROM charges WHERE consultation_id = :c AND captured_by = 'cont.lagos'",
        c=consultation,
    )
    assert kept == 2
