"""The clinical workspace over HTTP on the live stack: forms recorded once, CSRF, sessions
on both instances, a second factor at the login page, roles refused by the server, audit
rows for page reads, and the JSON side of the same actions."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pyotp
import pytest
from sqlalchemy import select, text

from medsys.clinical.models import Consultation, Staff
from medsys.core.clock import SANTIAGO
from medsys.core.rut import check_digit
from medsys.core.tokens import Role
from tests.conftest import (
    MedsysCluster,
    client_from,
    enrolled_with_second_factor,
    next_address,
)

pytestmark = pytest.mark.integration
PATIENT = "11111111-1"


class Workspace:
    """One person's browser session, as plain HTTP (cookies, CSRF tokens, form keys)."""

    def __init__(self, cluster: MedsysCluster, instance: str = "app1") -> None:
        self.cluster = cluster
        self.client = client_from(
            next_address(), base_url=self.url(instance), follow_redirects=True
        )

    def url(self, instance: str) -> str:
        return f"http://127.0.0.1:{self.cluster.settings.port(instance)}"

    def log_in(self, username: str, password: str | None = None, code: str = "") -> httpx.Response:
        page = self.client.get("/clinica/ingresar")
        return self.client.post(
            "/clinica/ingresar",
            data={
                "csrf_token": csrf(page.text),
                "usuario": username,
                "clave": password or self.cluster.password(username),
                "codigo": code,
            },
        )

    def form(self, page_path: str, action: str, fields: dict[str, str], key: str = "") -> Any:
        """Submit a form drawn on ``page_path``, with its CSRF token and a form key."""
        page = self.client.get(page_path)
        data = {
            "csrf_token": csrf(page.text),
            "idempotency_key": key or uuid.uuid4().hex,
            **fields,
        }
        return self.client.post(action, data=data)


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "every form carries a CSRF token"
    return found.group(1)


def doctor_token(cluster: MedsysCluster, username: str = "dra.soto") -> dict[str, str]:
    return {"Authorization": f"Bearer {cluster.token(Role.DOCTOR, username)}"}


def clinical(cluster: MedsysCluster) -> str:
    return f"http://127.0.0.1:{cluster.settings.port('app1')}"


def open_consultation(cluster: MedsysCluster, doctor: str = "dra.soto") -> int:
    db = cluster.database("clinical")
    try:
        doctor_id = db.read(lambda s: s.scalar(select(Staff.id).where(Staff.username == doctor)))
    finally:
        db.dispose()
    opened = httpx.post(
        f"{clinical(cluster)}/api/consultations",
        headers=doctor_token(cluster, doctor),
        json={
            "patient_rut": PATIENT,
            "doctor_id": doctor_id,
            "starts_at": datetime.now(SANTIAGO).isoformat(),
            "reason": "Control",
        },
    )
    assert opened.status_code == 201, opened.text
    return int(opened.json()["id"])


def notes_of(cluster: MedsysCluster, consultation_id: int) -> str:
    db = cluster.database("clinical")
    try:
        return str(db.read(lambda s: s.get(Consultation, consultation_id).notes))  # type: ignore[union-attr]
    finally:
        db.dispose()


def test_a_form_sent_twice_is_recorded_once(cluster: MedsysCluster) -> None:
    consultation = open_consultation(cluster)
    desk = Workspace(cluster)
    assert desk.log_in("dra.soto").status_code == 200
    page = f"/clinica/consultas/{consultation}"
    action = f"{page}/notas"
    key = uuid.uuid4().hex
    note = f"Dolor leve {uuid.uuid4().hex[:6]}"
    first = desk.form(page, action, {"nota": note}, key)
    assert "Nota agregada." in first.text
    again = desk.form(page, action, {"nota": note}, key)  # a double click, a reload
    assert "se había enviado" in again.text
    assert notes_of(cluster, consultation).count(note) == 1


def test_a_form_without_its_csrf_token_changes_nothing(cluster: MedsysCluster) -> None:
    consultation = open_consultation(cluster)
    desk = Workspace(cluster)
    desk.log_in("dra.soto")
    forged = desk.client.post(
        f"/clinica/consultas/{consultation}/notas",
        data={"idempotency_key": uuid.uuid4().hex, "nota": "falsificada"},
    )
    assert forged.status_code == 400 and "El formulario expiró o fue alterado" in forged.text
    assert "falsificada" not in notes_of(cluster, consultation)


def test_pages_need_a_login_and_the_session_holds_on_both_instances(
    cluster: MedsysCluster,
) -> None:
    stranger = httpx.get(f"{clinical(cluster)}/clinica/pacientes/{PATIENT}")
    assert stranger.status_code == 302 and "/clinica/ingresar" in stranger.headers["location"]
    desk = Workspace(cluster)
    desk.log_in("enf.silva")
    for instance in ("app1", "app1-replica"):
        chart = desk.client.get(f"{desk.url(instance)}/clinica/pacientes/{PATIENT}")
        assert chart.status_code == 200 and "Ficha clínica: Juan Pérez" in chart.text
    desk.form("/clinica/agenda", "/clinica/salir", {})
    ended = desk.client.get(f"{desk.url('app1-replica')}/clinica/agenda")
    assert "Ingreso del equipo clínico" in ended.text, "logout ends it on the other instance"


def test_a_wrong_password_and_a_second_factor_at_the_login_page(cluster: MedsysCluster) -> None:
    desk = Workspace(cluster)
    wrong = desk.log_in("dra.soto", "not-her-password")
    assert wrong.status_code == 401 and "Usuario o contraseña incorrectos." in wrong.text

    username, password = cluster.new_staff(Role.DOCTOR, "Dra. Prueba")
    totp = enrolled_with_second_factor(clinical(cluster), username, password)

    asks = Workspace(cluster).log_in(username, password)
    assert "Código de verificación" in asks.text and "Mi agenda" not in asks.text
    later = totp.at(datetime.now(UTC) + timedelta(seconds=30))
    inside = Workspace(cluster).log_in(username, password, code=later)
    assert inside.status_code == 200 and "<h1>Mi agenda</h1>" in inside.text


def test_a_nurse_is_refused_what_only_a_doctor_may_do(cluster: MedsysCluster) -> None:
    consultation = open_consultation(cluster)
    nurse = Workspace(cluster)
    nurse.log_in("enf.silva")
    page = f"/clinica/consultas/{consultation}"
    drawn = nurse.client.get(page).text
    assert "Buscar CIE-10" not in drawn and "Cerrar consulta" not in drawn
    for action, fields in [
        (f"{page}/diagnosticos", {"codigo": "I10"}),
        (f"{page}/indicaciones", {"tipo": "medication", "descripcion": "Losartán"}),
        (f"{page}/cerrar", {}),
    ]:
        refused = nurse.form(page, action, fields)
        assert refused.status_code == 403 and "Su rol no permite esta acción." in refused.text
    vitals = nurse.form(page, f"{page}/signos", {"sistolica": "125", "diastolica": "82"})
    assert "Signos vitales registrados." in vitals.text and "125/82 mmHg" in vitals.text
    bad = nurse.form(page, f"{page}/signos", {"temperatura": "73"})
    assert "fuera de lo posible" in bad.text


def test_reading_the_chart_is_audited_in_the_reader_s_name(cluster: MedsysCluster) -> None:
    db = cluster.database("clinical")

    def reads() -> int:
        return int(
            db.read(
                lambda s: s.execute(
                    text(
                        "SELECT COUNT(*) FROM audit_log WHERE actor = 'dra.munoz' "
                        "AND resource = 'chart' AND patient_rut = :r"
                    ),
                    {"r": PATIENT},
                ).scalar_one()
            )
        )

    try:
        before = reads()
        desk = Workspace(cluster)
        desk.log_in("dra.munoz")
        assert desk.client.get(f"/clinica/pacientes/{PATIENT}").status_code == 200
        assert reads() == before + 1
        # ... and she finds it among her own actions.
        mine = desk.client.get("/clinica/mis-acciones").text
        assert "<h1>Mis acciones</h1>" in mine
        assert f'<td>vio</td><td>chart</td><td><a href="/clinica/pacientes/{PATIENT}">' in mine
    finally:
        db.dispose()


def test_the_chart_stays_usable_when_admin_cannot_be_asked(cluster: MedsysCluster) -> None:
    desk = Workspace(cluster)
    desk.log_in("dra.soto")
    cluster.stop("middleware")
    try:
        chart = desk.client.get(f"/clinica/pacientes/{PATIENT}")
        assert chart.status_code == 200
        assert "Los datos administrativos no están disponibles ahora" in chart.text
        assert "Consultas" in chart.text and "Faringitis" in chart.text
    finally:
        cluster.start("middleware")


def test_the_same_actions_over_json(cluster: MedsysCluster) -> None:
    base = clinical(cluster)
    doctor = doctor_token(cluster)
    nurse = {"Authorization": f"Bearer {cluster.token(Role.NURSE, 'enf.silva')}"}
    found = httpx.get(f"{base}/api/icd10", params={"q": "anencephaly"}, headers=nurse).json()
    assert found["results"] == [{"code": "Q00.0", "title": "Anencephaly"}]

    consultation = open_consultation(cluster)
    added = httpx.post(
        f"{base}/api/consultations/{consultation}/diagnoses",
        json={"code": "Q00.0", "description": "Anencefalia"},
        headers=doctor,
    ).json()
    by_nurse = httpx.post(
        f"{base}/api/diagnoses/{added['id']}/status",
        json={"status": "entered-in-error", "reason": "error"},
        headers=nurse,
    )
    assert by_nurse.status_code == 403
    corrected = httpx.post(
        f"{base}/api/diagnoses/{added['id']}/status",
        json={"status": "entered-in-error", "reason": "Código equivocado"},
        headers=doctor,
    )
    assert corrected.status_code == 200
    assert corrected.json()["status"] == "entered-in-error"
    assert corrected.json()["status_changed_by"] == "dra.soto"
    twice = httpx.post(
        f"{base}/api/diagnoses/{added['id']}/status",
        json={"status": "refuted", "reason": "otra vez"},
        headers=doctor,
    )
    assert twice.status_code == 409, "a correction is not rewritten"

    unknown = httpx.post(
        f"{base}/api/consultations/{consultation}/diagnoses",
        json={"code": "S93.40", "description": "x"},
        headers=doctor,
    )
    assert unknown.status_code == 422 and "catálogo OMS" in unknown.text

    allergy = httpx.post(
        f"{base}/api/patients/{PATIENT}/allergies",
        json={"substance": "Penicilina", "reaction": "urticaria"},
        headers=nurse,
    )
    assert allergy.status_code == 201
    listed = httpx.get(f"{base}/api/patients/{PATIENT}/allergies", headers=doctor).json()
    assert any(a["substance"] == "Penicilina" for a in listed["allergies"])

    agenda = httpx.get(f"{base}/api/agenda", headers=nurse)
    assert agenda.status_code == 200 and isinstance(agenda.json()["visits"], list)


def test_a_doctor_finds_a_patient_typed_without_accents_in_any_order(
    cluster: MedsysCluster,
) -> None:
    # Through the real chain: clinical, the middleware, nginx and admin's search.
    desk = Workspace(cluster)
    desk.log_in("dra.munoz")
    for typed in ("perez JUAN", "11.111.111"):
        page = desk.client.get("/clinica/pacientes", params={"q": typed})
        assert page.status_code == 200
        assert "Juan Pérez" in page.text and f"/clinica/pacientes/{PATIENT}" in page.text
        assert 'aria-describedby="q-hint"' in page.text and "Sin importar" in page.text
    nobody = desk.client.get("/clinica/pacientes", params={"q": "perez zzzz"})
    assert nobody.status_code == 200 and "Juan Pérez" not in nobody.text
    # Punctuation names no one (a dash is in every RUT): the page asks for a name or a RUT
    # instead of listing the registry or calling it unavailable.
    dashes = desk.client.get("/clinica/pacientes", params={"q": "--"})
    assert dashes.status_code == 200 and "Juan Pérez" not in dashes.text
    assert "al menos dos letras o números" in dashes.text
    assert "no está disponible" not in dashes.text


def test_the_chart_shows_the_emergency_contact_reception_recorded(
    cluster: MedsysCluster,
) -> None:
    body = uuid.uuid4().int % 9_000_000 + 60_000_000
    rut = f"{body}-{check_digit(body)}"
    clerk = {"Authorization": f"Bearer {cluster.token(Role.CLERK, 'adm.vera')}"}
    registered = httpx.post(
        f"http://127.0.0.1:{cluster.settings.port('nginx')}/patients",
        headers=clerk,
        json={
            "rut": rut,
            "nombre": "Rosa Contreras",
            "contacto_emergencia": "Pedro Contreras (hijo)",
            "telefono_emergencia": "+56 9 5555 1234",
        },
    )
    assert registered.status_code == 201, registered.text
    desk = Workspace(cluster)
    desk.log_in("enf.silva")  # a nurse needs it as much as a doctor
    chart = desk.client.get(f"/clinica/pacientes/{rut}")
    assert chart.status_code == 200
    assert "Contacto de emergencia: Pedro Contreras (hijo)" in chart.text
    assert 'href="tel:+56955551234"' in chart.text  # stored as admin normalizes it
    # The demo patient has none recorded: the chart says so rather than leaving a blank.
    demo = desk.client.get(f"/clinica/pacientes/{PATIENT}")
    assert "Contacto de emergencia: no registrado" in demo.text


def test_a_doctor_changes_her_own_password_on_the_account_page(cluster: MedsysCluster) -> None:
    username, old = cluster.new_staff(Role.DOCTOR, "Dr. Cuenta")
    desk, other = Workspace(cluster), Workspace(cluster, "app1-replica")
    desk.log_in(username, old)
    other.log_in(username, old)
    page = desk.client.get("/clinica/cuenta")
    assert page.status_code == 200 and "<h1>Mi cuenta</h1>" in page.text
    new = "una-clave-nueva-larga"

    # Refused, and nothing changes: a wrong current password, a repetition that differs,
    # a new password too short.
    for fields, said in (
        (
            {"clave_actual": "no-es-esta-clave", "clave_nueva": new, "clave_repetida": new},
            "La contraseña actual no es correcta.",
        ),
        ({"clave_actual": old, "clave_nueva": new, "clave_repetida": new + "x"}, "no coinciden"),
        (
            {"clave_actual": old, "clave_nueva": "corta", "clave_repetida": "corta"},
            "entre 12 y 200 caracteres",
        ),
    ):
        refused = desk.form("/clinica/cuenta", "/clinica/cuenta/clave", fields)
        assert said in refused.text and "<h1>Mi cuenta</h1>" in refused.text
    assert "<h1>Mi agenda</h1>" in Workspace(cluster).log_in(username, old).text

    key = uuid.uuid4().hex
    fields = {"clave_actual": old, "clave_nueva": new, "clave_repetida": new}
    changed = desk.form("/clinica/cuenta", "/clinica/cuenta/clave", fields, key)
    assert "Contraseña cambiada. Ingrese con la nueva." in changed.text
    assert 'action="/clinica/ingresar"' in changed.text  # this session ended with it
    # ... and every other one, on the other instance too.
    assert "Ingreso del equipo clínico" in other.client.get("/clinica/agenda").text
    refused = Workspace(cluster).log_in(username, old)
    assert refused.status_code == 401
    assert "<h1>Mi agenda</h1>" in Workspace(cluster).log_in(username, new).text
    # The same form sent again (a reload) changes nothing and says so.
    desk.log_in(username, new)
    again = desk.client.post(
        "/clinica/cuenta/clave",
        data={
            "csrf_token": csrf(desk.client.get("/clinica/cuenta").text),
            "idempotency_key": key,
            **fields,
        },
    )
    assert "ya se había enviado" in again.text
    assert "<h1>Mi agenda</h1>" in Workspace(cluster).log_in(username, new).text


def test_a_doctor_turns_on_a_second_factor_on_the_account_page(cluster: MedsysCluster) -> None:
    username, password = cluster.new_staff(Role.DOCTOR, "Dr. Cuenta")
    desk = Workspace(cluster)
    desk.log_in(username, password)
    assert "No activado" in desk.client.get("/clinica/cuenta").text
    wrong = desk.form("/clinica/cuenta", "/clinica/cuenta/segundo-factor", {"clave": "otra-cosa"})
    assert wrong.status_code == 403 and "La contraseña actual no es correcta." in wrong.text

    shown = desk.form("/clinica/cuenta", "/clinica/cuenta/segundo-factor", {"clave": password})
    found = re.search(r'id="clave-secreta">([A-Z2-7]+)<', shown.text)
    assert found, "the page shows the secret to enter in the app"
    totp = pyotp.TOTP(found.group(1))
    bad = desk.form(
        "/clinica/cuenta",
        "/clinica/cuenta/segundo-factor/confirmar",
        {"codigo": "000000" if totp.now() != "000000" else "111111"},
    )
    assert "El código no coincide" in bad.text
    confirmed = desk.form(
        "/clinica/cuenta", "/clinica/cuenta/segundo-factor/confirmar", {"codigo": totp.now()}
    )
    assert "Segundo factor activado" in confirmed.text and "Activado:" in confirmed.text
    asks = Workspace(cluster).log_in(username, password)
    assert "Código de verificación" in asks.text and "Mi agenda" not in asks.text
    later = totp.at(datetime.now(UTC) + timedelta(seconds=30))
    inside = Workspace(cluster).log_in(username, password, code=later)
    assert "<h1>Mi agenda</h1>" in inside.text

    # A lost phone: only an account administrator may remove the second factor, and the
    # person's sessions end with it.
    def reset_by(who: str, secret: str) -> httpx.Response:
        token = httpx.post(
            f"{clinical(cluster)}/auth/login", json={"username": who, "password": secret}
        ).json()["token"]
        return httpx.post(
            f"{clinical(cluster)}/auth/users/{username}/reset-second-factor",
            headers={"Authorization": f"Bearer {token}"},
        )

    other, other_password = cluster.new_staff(Role.DOCTOR, "Dr. Cuenta")
    assert reset_by(other, other_password).status_code == 403
    assert "Activado:" in desk.client.get("/clinica/cuenta").text
    reset = reset_by("dra.soto", cluster.password("dra.soto"))
    assert reset.status_code == 200 and reset.json()["ended_sessions"] >= 1
    assert "Ingreso del equipo clínico" in desk.client.get("/clinica/cuenta").text
    again = Workspace(cluster).log_in(username, password)
    assert "<h1>Mi agenda</h1>" in again.text


def test_an_account_administrator_manages_staff_on_the_users_page(
    cluster: MedsysCluster,
) -> None:
    boss = Workspace(cluster)
    assert 'href="/clinica/usuarios"' in boss.log_in("dra.soto").text
    nurse = Workspace(cluster)
    assert 'href="/clinica/usuarios"' not in nurse.log_in("enf.silva").text
    assert nurse.client.get("/clinica/usuarios").status_code == 403  # refused, not only hidden

    username = f"t.{uuid.uuid4().hex[:8]}"
    body = uuid.uuid4().int % 9_000_000 + 5_000_000
    fields = {
        "usuario": username,
        "nombre": "Dr. Recién Llegado",
        "rol": "doctor",
        "rut": f"{body}-{check_digit(body)}",
        "especialidad": "Pediatría",
    }
    bad = boss.form("/clinica/usuarios", "/clinica/usuarios", {**fields, "rut": "1-2"})
    assert "RUT válido" in bad.text and username not in bad.text
    key = uuid.uuid4().hex
    made = boss.form("/clinica/usuarios", "/clinica/usuarios", fields, key)
    shown = re.search(r'id="clave-entregada">([^<]+)<', made.text)
    assert shown and "Cuenta creada:" in made.text
    first = shown.group(1)
    # The same form again: recorded once, and the password is not shown a second time.
    page = boss.client.get("/clinica/usuarios")
    again = boss.client.post(
        "/clinica/usuarios", data={"csrf_token": csrf(page.text), "idempotency_key": key, **fields}
    )
    assert "ya se había enviado" in again.text and first not in again.text
    newcomer = Workspace(cluster)
    assert "<h1>Mi agenda</h1>" in newcomer.log_in(username, first).text

    reset = boss.form("/clinica/usuarios", f"/clinica/usuarios/{username}/clave", {})
    second = re.search(r'id="clave-entregada">([^<]+)<', reset.text)
    assert second and second.group(1) != first
    assert "Ingreso del equipo clínico" in newcomer.client.get("/clinica/agenda").text
    assert Workspace(cluster).log_in(username, first).status_code == 401

    gone = boss.form("/clinica/usuarios", f"/clinica/usuarios/{username}/desactivar", {})
    assert f"Cuenta {username} desactivada" in gone.text
    after = Workspace(cluster).log_in(username, second.group(1))
    assert after.status_code in (401, 403) and "<h1>Mi agenda</h1>" not in after.text
    mine = boss.form("/clinica/usuarios", "/clinica/usuarios/dra.soto/desactivar", {})
    assert "No puede desactivar su propia cuenta." in mine.text
