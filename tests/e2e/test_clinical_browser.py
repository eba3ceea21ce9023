"""A doctor and a nurse at work in the clinical workspace, in Debian's Chromium.

The doctor's journey goes on through `medsys kill app1` (the same browser session, on
app1-replica) and through a MariaDB primary killed mid-journey (the next form waits out the
failover and is recorded once). Its own system, so its failover does not move the shared
one. Screenshots of every page under artifacts/screenshots/clinical-*.png, the prescription
also as a PDF."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from medsys.clinical.models import Staff
from medsys.core.clock import SANTIAGO
from medsys.core.rut import check_digit
from medsys.core.tokens import Role
from tests.conftest import MedsysCluster, eventually, own_system_for
from tests.e2e.conftest import SHOTS, shot

pytestmark = pytest.mark.integration
PATIENT = "11111111-1"


@pytest.fixture(scope="module")
def clinic() -> Iterator[MedsysCluster]:
    with own_system_for(__file__) as system:
        yield system


def base(clinic: MedsysCluster, instance: str = "app1") -> str:
    return f"http://127.0.0.1:{clinic.settings.port(instance)}"


def doctor_id(clinic: MedsysCluster, username: str) -> int:
    db = clinic.database("clinical")
    try:
        return int(db.read(lambda s: s.scalar(select(Staff.id).where(Staff.username == username))))
    finally:
        db.dispose()


def booked_slot(clinic: MedsysCluster, username: str) -> tuple[int, str]:
    """A future slot of the doctor's, booked for the patient through the API; its id
    and its day in Santiago."""
    token = clinic.token(Role.DOCTOR, username)
    headers = {"Authorization": f"Bearer {token}"}
    free = httpx.get(
        f"{base(clinic)}/api/slots",
        params={"doctor_id": doctor_id(clinic, username), "limit": 1},
        headers=headers,
    )
    assert free.status_code == 200, free.text
    slot = free.json()["slots"][0]
    reserved = httpx.post(
        f"{base(clinic)}/api/slots/{slot['id']}/reserve",
        json={"patient_rut": PATIENT},
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert reserved.status_code == 200, reserved.text
    day = datetime.fromisoformat(slot["starts_at"]).astimezone(SANTIAGO).date().isoformat()
    return int(slot["id"]), day


def log_in(
    browser: Browser, clinic: MedsysCluster, username: str, password: str | None = None
) -> Page:
    page = browser.new_page(viewport={"width": 1200, "height": 900}, locale="es-CL")
    page.goto(f"{base(clinic)}/clinica/ingresar")
    page.get_by_label("Usuario").fill(username)
    page.get_by_label("Contraseña").fill(password or clinic.password(username))
    page.get_by_label("Contraseña").press("Enter")  # by keyboard
    expect(page.get_by_role("heading", level=1)).to_contain_text(re.compile("agenda", re.I))
    return page


def status(page: Page, text: str) -> None:
    expect(page.get_by_role("status").first).to_contain_text(text)


def test_a_doctor_works_through_a_visit_across_an_instance_and_a_database_failure(
    browser: Browser, clinic: MedsysCluster
) -> None:
    _, day = booked_slot(clinic, "dra.soto")
    page = log_in(browser, clinic, "dra.soto")
    shot(page, "clinical-01-agenda-today")
    page.goto(f"{base(clinic)}/clinica/agenda?dia={day}")
    row = page.get_by_role("row").filter(has_text="Juan Pérez")
    expect(row).to_contain_text("FONASA")
    expect(row).to_contain_text("Agendada")
    shot(page, "clinical-02-agenda-booked")
    row.get_by_role("button", name="Registrar llegada").click()
    status(page, "Llegada registrada.")
    expect(page.get_by_role("row").filter(has_text="Juan Pérez")).to_contain_text("Llegó")
    shot(page, "clinical-03-arrived")

    # app1 dies: the same browser session goes on with app1-replica.
    clinic.kill("app1")
    try:
        page.goto(f"{base(clinic, 'app1-replica')}/clinica/agenda?dia={day}")
        row = page.get_by_role("row").filter(has_text="Juan Pérez")
        row.get_by_role("button", name="Iniciar consulta").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Consulta: Juan Pérez")
        shot(page, "clinical-04-consultation")

        page.get_by_label("Buscar en CIE-10").fill("pharyngitis")
        page.get_by_role("button", name="Buscar CIE-10").click()
        hit = page.get_by_role("row").filter(has_text="J02.9")
        expect(hit).to_contain_text("Acute pharyngitis, unspecified")
        shot(page, "clinical-05-icd10-search")
        hit.get_by_label("Descripción en español").fill("Faringitis aguda")
        hit.get_by_role("button", name="Agregar J02.9").click()
        status(page, "Diagnóstico agregado.")

        # A wrong code, entered by mistake and marked so (never deleted).
        page.get_by_label("Buscar en CIE-10").fill("Q00.0")
        page.get_by_role("button", name="Buscar CIE-10").click()
        page.get_by_role("button", name="Agregar Q00.0").click()
        status(page, "Diagnóstico agregado.")
        page.get_by_label("Corregir Q00.0").select_option("entered-in-error")
        page.locator("form", has=page.get_by_label("Corregir Q00.0")).get_by_label("Motivo").fill(
            "Error de digitación"
        )
        page.locator("form", has=page.get_by_label("Corregir Q00.0")).get_by_role(
            "button", name="Marcar"
        ).click()
        status(page, "Diagnóstico corregido")
        expect(page.locator(".badge.entered-in-error")).to_have_text("ingresado por error")
        shot(page, "clinical-06-diagnoses")
    finally:
        clinic.start("app1")

    # The clinical primary dies mid-journey: the next form waits out the failover.
    primary, _ = clinic.roles("clinical")
    clinic.kill(primary)
    try:
        page.get_by_label("Medicamento").fill("Amoxicilina")
        page.get_by_label("Dosis").fill("500 mg")
        page.get_by_label("Frecuencia", exact=True).fill("cada 8 horas")
        page.get_by_label("Duración", exact=True).fill("7 días")
        page.get_by_role("button", name="Agregar medicamento").click()
        status(page, "Indicación agregada.")
    finally:
        # The old primary returns only once the monitor has promoted the other node.
        eventually(lambda: clinic.roles("clinical")[0] != primary, within=30, what="failover")
        clinic.start(primary)
    expect(page.get_by_text("Amoxicilina")).to_have_count(1)
    shot(page, "clinical-07-prescribed-after-failover")

    # The old primary is back as a replica before the next step: while it rejoins, a commit
    # can wait for its acknowledgement (semi-sync). On a loaded two-core CI machine this
    # form's page once still showed the consultation after 5 s (not reproduced here).
    eventually(lambda: clinic.in_sync("clinical"), within=60, what="old primary in sync")
    page.get_by_role("button", name="Emitir receta").click()
    try:
        heading = page.get_by_role("heading", level=1)
        expect(heading).to_contain_text("Receta médica", timeout=20_000)
    except AssertionError as failed:
        said = page.get_by_role("status").all_text_contents()
        raise AssertionError(f"no prescription; the page said {said}") from failed
    expect(page.get_by_text("Amoxicilina")).to_be_visible()
    code = re.search(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", page.content())
    assert code, "the prescription carries a verification code"
    shot(page, "clinical-08-prescription")
    page.pdf(path=str(SHOTS / "clinical-prescription.pdf"))

    anyone = browser.new_page()  # a pharmacy, not logged in
    anyone.goto(f"{base(clinic)}/clinica/verificar?codigo={code.group(0)}")
    expect(anyone.get_by_role("status")).to_contain_text("Documento válido: Receta médica")
    expect(anyone.get_by_text("Juan Pérez")).to_have_count(0)  # no patient data there
    shot(anyone, "clinical-09-verified")
    anyone.close()

    page.get_by_role("link", name="Volver a la consulta").click()
    page.get_by_role("button", name="Cerrar consulta").click()
    status(page, "Consulta cerrada.")
    page.goto(f"{base(clinic)}/clinica/agenda?dia={day}")
    expect(page.get_by_role("row").filter(has_text="Juan Pérez")).to_contain_text("Atendida")
    shot(page, "clinical-10-finished")
    page.close()


def test_a_nurse_records_vitals_but_cannot_diagnose(
    browser: Browser, clinic: MedsysCluster
) -> None:
    doctor = clinic.token(Role.DOCTOR, "dra.munoz")
    opened = httpx.post(
        f"{base(clinic)}/api/consultations",
        headers={"Authorization": f"Bearer {doctor}"},
        json={
            "patient_rut": PATIENT,
            "doctor_id": doctor_id(clinic, "dra.munoz"),
            "starts_at": datetime.now(SANTIAGO).isoformat(),
            "reason": "Control de presión",
        },
    )
    assert opened.status_code == 201, opened.text
    consultation = opened.json()["id"]

    page = log_in(browser, clinic, "enf.silva")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Agenda de la clínica")
    page.get_by_role("link", name="Pacientes").click()
    page.get_by_label("RUT o nombre").fill("Pérez")
    page.get_by_label("RUT o nombre").press("Enter")
    page.get_by_role("link", name="Juan Pérez").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Ficha clínica: Juan Pérez")

    page.goto(f"{base(clinic)}/clinica/consultas/{consultation}")
    expect(page.get_by_role("button", name="Buscar CIE-10")).to_have_count(0)
    expect(page.get_by_role("button", name="Cerrar consulta")).to_have_count(0)
    page.get_by_label("Presión sistólica (mmHg)").fill("138")
    page.get_by_label("Presión diastólica (mmHg)").fill("88")
    page.get_by_label("Peso (kg)").fill("81,5")
    page.get_by_label("Temperatura (°C)").fill("36,9")
    page.get_by_role("button", name="Registrar signos vitales").click()
    status(page, "Signos vitales registrados.")
    expect(page.get_by_text("138/88 mmHg")).to_be_visible()
    shot(page, "clinical-11-nurse-vitals")

    # The page hides diagnosing; the server refuses it anyway.
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    refused = page.request.post(
        f"{base(clinic)}/clinica/consultas/{consultation}/diagnosticos",
        form={
            "csrf_token": token or "",
            "idempotency_key": uuid.uuid4().hex,
            "codigo": "I10",
        },
    )
    assert refused.status == 403
    assert "Su rol no permite esta acción." in refused.text()
    page.set_content(refused.text())
    shot(page, "clinical-12-nurse-refused")

    page.goto(f"{base(clinic)}/clinica/pacientes/{PATIENT}")
    pressure = page.locator("svg[aria-label^='Presión arterial (mmHg)']")
    expect(pressure).to_have_attribute("aria-label", re.compile(r"Sistólica: [0-9, ]*138;"))
    shot(page, "clinical-13-chart-with-vitals")
    page.close()


def test_a_doctor_sets_weekly_hours_and_blocks_a_vacation_in_one_step(
    browser: Browser, clinic: MedsysCluster
) -> None:
    page = log_in(browser, clinic, "dr.fuentes")
    page.get_by_role("link", name="Mi horario").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Mi horario")
    page.get_by_label("Día").select_option(label="Sábado")
    page.get_by_label("Desde").first.fill("10:00")
    page.get_by_label("Hasta").first.fill("12:00")
    page.get_by_role("button", name="Agregar horario").click()
    status(page, "horas disponibles creadas")
    expect(page.get_by_text("Sábado 10:00–12:00")).to_be_visible()

    today = datetime.now(SANTIAGO).date()
    first = today + timedelta(days=7 - today.weekday())  # next Monday
    last = first + timedelta(days=4)
    block = page.locator("form", has=page.get_by_role("button", name="Bloquear"))
    block.get_by_label("Desde").fill(first.isoformat())
    block.get_by_label("Hasta").fill(last.isoformat())
    block.get_by_label("Motivo").fill("Vacaciones")
    block.get_by_role("button", name="Bloquear").click()
    status(page, "horas bloqueadas")
    expect(page.get_by_text("Vacaciones").first).to_be_visible()
    shot(page, "clinical-14-schedule")

    page.goto(f"{base(clinic)}/clinica/agenda?dia={first.isoformat()}&vista=semana")
    expect(page.get_by_text("Vacaciones").first).to_be_visible()
    shot(page, "clinical-15-week-blocked")
    page.close()


def test_a_doctor_changes_her_password_and_adds_a_second_factor_in_mi_cuenta(
    browser: Browser, clinic: MedsysCluster
) -> None:
    username, first = clinic.new_staff(Role.DOCTOR, "Dra. Nueva")
    page = log_in(browser, clinic, username, first)
    page.get_by_role("link", name="Mi cuenta").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Mi cuenta")
    shot(page, "clinical-16-account")

    change = page.get_by_role("region", name="Cambiar contraseña")
    change.get_by_label("Contraseña actual", exact=True).fill(first)
    change.get_by_label("Contraseña nueva", exact=True).fill("mi-clave-de-siempre")
    change.get_by_label("Repita la contraseña nueva").fill("mi-clave-de-siempre")
    change.get_by_label("Repita la contraseña nueva").press("Enter")  # by keyboard
    status(page, "Contraseña cambiada. Ingrese con la nueva.")
    page.get_by_label("Usuario").fill(username)
    page.get_by_label("Contraseña").fill("mi-clave-de-siempre")
    page.get_by_label("Contraseña").press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text(re.compile("agenda", re.I))

    page.goto(f"{base(clinic)}/clinica/cuenta")
    factor = page.get_by_role("region", name="Segundo factor")
    factor.get_by_label("Contraseña actual").fill("mi-clave-de-siempre")
    factor.get_by_role("button", name="Activar segundo factor").click()
    secret = page.locator("#clave-secreta").inner_text().strip()
    shot(page, "clinical-17-second-factor-secret")
    page.get_by_label("Código que muestra la aplicación").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Activar segundo factor").click()
    status(page, "Segundo factor activado")
    shot(page, "clinical-18-second-factor-on")
    page.get_by_role("link", name="Mis acciones").click()
    expect(page.get_by_role("row").filter(has_text="activó el segundo factor")).to_be_visible()
    shot(page, "clinical-20-my-actions")


def test_an_account_administrator_adds_a_nurse_from_usuarios(
    browser: Browser, clinic: MedsysCluster
) -> None:
    page = log_in(browser, clinic, "dra.soto")
    page.get_by_role("link", name="Usuarios").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Usuarios")
    username = f"enf.{uuid.uuid4().hex[:6]}"
    body = uuid.uuid4().int % 9_000_000 + 5_000_000
    new = page.get_by_role("region", name="Nueva cuenta")
    new.get_by_label("Usuario").fill(username)
    new.get_by_label("Nombre completo").fill("Enf. Paula Reyes")
    new.get_by_label("Rol").select_option("nurse")
    new.get_by_label("RUT").fill(f"{body}-{check_digit(body)}")
    new.get_by_role("button", name="Crear cuenta").click()
    status(page, f"Cuenta creada: {username}")
    expect(page.get_by_role("row").filter(has_text=username)).to_contain_text("Enfermería")
    shot(page, "clinical-19-users-added")
