"""A clerk at the front office in Debian's Chromium, through nginx: finds no such patient,
registers her, adds her coverage and reads her summary; a screenshot of every page under
artifacts/screenshots/office-*.png."""

from __future__ import annotations

import re
import uuid

import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect

from medsys.core.rut import check_digit
from medsys.core.tokens import Role
from tests.conftest import MedsysCluster
from tests.e2e.conftest import SHOTS, shot

pytestmark = pytest.mark.integration


def logged_in(
    browser: Browser, cluster: MedsysCluster, username: str, password: str | None = None
) -> Page:
    """A new browser page at the office, logged in by keyboard (Enter in the form)."""
    page = browser.new_page(viewport={"width": 1200, "height": 900}, locale="es-CL")
    page.goto(f"http://127.0.0.1:{cluster.settings.port('nginx')}/oficina/")
    page.get_by_label("Usuario").fill(username)
    page.get_by_label("Contraseña").fill(password or cluster.password(username))
    page.get_by_label("Contraseña").press("Enter")
    return page


def test_a_clerk_registers_a_caller_and_records_her_coverage(
    browser: Browser, cluster: MedsysCluster
) -> None:
    body = uuid.uuid4().int % 9_000_000 + 80_000_000
    rut = f"{body}-{check_digit(body)}"
    page = logged_in(browser, cluster, "adm.vera")
    expect(page.get_by_role("heading", level=1)).to_have_text("Pacientes")
    shot(page, "office-01-search")

    page.get_by_label("RUT o nombre").fill(rut)
    page.get_by_label("RUT o nombre").press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Sin resultados")
    page.get_by_role("link", name="Inscribir a un paciente nuevo").click()
    expect(page.get_by_label("RUT")).to_have_value(rut)
    page.get_by_label("Nombre completo").fill("Elena Núñez Fuentes")
    page.get_by_label("Fecha de nacimiento").fill("1985-07-21")
    page.get_by_label("Sexo").select_option("femenino")
    page.get_by_label("Teléfono", exact=True).fill("+56 9 5555 1234")
    page.get_by_label("Contacto de emergencia").fill("Mario Fuentes")
    shot(page, "office-02-register")
    page.get_by_role("button", name="Inscribir").click()
    expect(page.get_by_role("status")).to_contain_text("Paciente inscrito.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Elena Núñez Fuentes")

    page.get_by_label("Institución").select_option("FONASA")
    page.get_by_label("Tramo FONASA").select_option("B")
    page.get_by_label("Modalidad FONASA").select_option("MLE")
    page.get_by_role("button", name="Registrar previsión").click()
    expect(page.get_by_role("status")).to_contain_text("Previsión registrada.")
    expect(page.get_by_text("tramo B")).to_be_visible()
    shot(page, "office-03-patient-summary")

    # Found again as people type: no accents, any order, the RUT with dots.
    page.goto(f"http://127.0.0.1:{cluster.settings.port('nginx')}/oficina/pacientes")
    for typed in ("nunez elena", f"{body:,}".replace(",", ".")):
        page.get_by_label("RUT o nombre").fill(typed)
        page.get_by_label("RUT o nombre").press("Enter")
        expect(page.get_by_role("row").filter(has_text=rut)).to_contain_text("Elena Núñez Fuentes")
    shot(page, "office-03b-found-without-accents")
    page.get_by_role("link", name="Elena Núñez Fuentes").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Elena Núñez Fuentes")

    # She is on the phone: a pediatrics appointment, then moved, then cancelled.
    page.get_by_role("link", name="Agendar hora").click()
    page.get_by_label("Especialidad").select_option("Pediatría")
    page.get_by_role("button", name="Buscar horas").click()
    page.get_by_role("button", name=re.compile("^Reservar")).first.click()
    expect(page.get_by_role("status")).to_contain_text("Hora agendada.")
    booked = page.get_by_role("row").filter(has_text="agendada")
    expect(booked).to_have_count(1)
    shot(page, "office-09-booked-by-phone")
    booked.get_by_role("link", name="Cambiar").click()
    page.get_by_label("Especialidad").select_option("Pediatría")
    page.get_by_role("button", name="Buscar horas").click()
    page.get_by_role("button", name=re.compile("^Reservar")).nth(1).click()
    expect(page.get_by_role("status")).to_contain_text("Hora cambiada.")
    page.get_by_role("row").filter(has_text="agendada").get_by_role(
        "button", name="Anular hora"
    ).click()
    expect(page.get_by_role("status")).to_contain_text("Hora anulada.")
    expect(page.get_by_role("cell", name="anulada", exact=True)).to_have_count(2)
    shot(page, "office-10-moved-and-cancelled")
    page.close()


def test_an_accountant_invoices_takes_a_payment_and_refunds_part(
    browser: Browser, cluster: MedsysCluster
) -> None:
    page = browser.new_page(viewport={"width": 1200, "height": 900}, locale="es-CL")
    page.goto(f"http://127.0.0.1:{cluster.settings.port('nginx')}/oficina/pacientes/11111111-1")
    page.get_by_label("Usuario").fill("cont.lagos")
    page.get_by_label("Contraseña").fill(cluster.password("cont.lagos"))
    page.get_by_role("button", name="Ingresar").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Juan Pérez")

    # Care turned into charges: the closed consultations come in, priced from the list.
    page.get_by_role("link", name="Cargos").click()
    page.get_by_role("button", name="Traer consultas cerradas").click()
    expect(page.get_by_role("status")).to_contain_text("Consultas cerradas revisadas.")
    expect(page.get_by_role("row").filter(has_text="11111111-1").first).to_be_visible()
    shot(page, "office-04-charges")
    page.get_by_role("link", name="11111111-1").first.click()
    page.get_by_role("button", name="Facturar cargos pendientes").click()
    expect(page.get_by_role("status")).to_contain_text("Factura emitida desde los cargos.")
    shot(page, "office-04b-invoice-from-charges")

    page.get_by_label("Detalle línea 1").fill("Consulta medicina general")
    page.get_by_label("Monto línea 1 (CLP)").fill("30.000")
    page.get_by_label("Tipo línea 2").select_option("procedure")
    page.get_by_label("Detalle línea 2").fill("Curación simple")
    page.get_by_label("Monto línea 2 (CLP)").fill("12000")
    page.get_by_role("button", name="Emitir factura").click()
    expect(page.get_by_role("status")).to_contain_text("Factura emitida.")
    shot(page, "office-04-invoice")

    page.get_by_label("Monto (CLP)", exact=True).fill("5000")
    page.get_by_label("Medio de pago").select_option("transferencia")
    page.get_by_role("button", name="Registrar pago").click()
    expect(page.get_by_role("status")).to_contain_text("Pago registrado.")
    refund = page.locator("form", has=page.get_by_role("button", name="Reembolsar")).last
    refund.get_by_role("textbox").first.fill("1000")
    refund.get_by_role("textbox").nth(1).fill("Cobro en exceso")
    refund.get_by_role("button", name="Reembolsar").click()
    expect(page.get_by_role("status")).to_contain_text("Reembolso registrado.")
    expect(page.get_by_role("cell", name="reembolso").first).to_be_visible()
    shot(page, "office-05-payment-and-refund")
    page.locator("a[href^='/oficina/facturas/']").last.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Factura F-")
    expect(page.get_by_role("row", name=re.compile("Curación simple"))).to_be_visible()
    shot(page, "office-06-printable-invoice")
    page.pdf(path=str(SHOTS / "office-invoice.pdf"))

    # Back to the reports: the day's cash closing, a CSV of it, and one's own actions.
    page.get_by_role("link", name="Informes").click()
    expect(page.get_by_role("heading", name=re.compile("Cierre de caja"))).to_be_visible()
    expect(page.locator("table").first).to_contain_text("transferencia")
    shot(page, "office-07-reports")
    with page.expect_download() as download:
        page.get_by_role("link", name="Descargar CSV").first.click()
    saved = SHOTS / "office-cash-closing.csv"
    download.value.save_as(saved)
    assert saved.read_text(encoding="utf-8-sig").startswith("fecha;medio;registrado_por")
    page.get_by_role("link", name="Mis acciones").click()
    expect(page.get_by_role("table")).to_contain_text("reembolsó")
    shot(page, "office-08-my-actions")
    page.close()


def test_a_clerk_changes_her_password_and_adds_a_second_factor_in_mi_cuenta(
    browser: Browser, cluster: MedsysCluster
) -> None:
    username, first = cluster.new_staff(Role.CLERK, "Rec. Nueva")
    page = logged_in(browser, cluster, username, first)
    page.get_by_role("link", name="Mi cuenta").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Mi cuenta")
    shot(page, "office-11-account")

    change = page.get_by_role("region", name="Cambiar contraseña")
    change.get_by_label("Contraseña actual", exact=True).fill(first)
    change.get_by_label("Contraseña nueva", exact=True).fill("mi-clave-de-siempre")
    change.get_by_label("Repita la contraseña nueva").fill("mi-clave-de-siempre")
    change.get_by_label("Repita la contraseña nueva").press("Enter")  # by keyboard
    expect(page.get_by_role("status").first).to_contain_text("Contraseña cambiada")
    page.get_by_label("Usuario").fill(username)
    page.get_by_label("Contraseña").fill("mi-clave-de-siempre")
    page.get_by_label("Contraseña").press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Pacientes")

    page.get_by_role("link", name="Mi cuenta").click()
    factor = page.get_by_role("region", name="Segundo factor")
    factor.get_by_label("Contraseña actual").fill("mi-clave-de-siempre")
    factor.get_by_role("button", name="Activar segundo factor").click()
    secret = page.locator("#clave-secreta").inner_text().strip()
    page.get_by_label("Código que muestra la aplicación").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Activar segundo factor").click()
    expect(page.get_by_role("status").first).to_contain_text("Segundo factor activado")
    shot(page, "office-12-second-factor-on")


def test_an_account_administrator_adds_a_cashier_from_usuarios(
    browser: Browser, cluster: MedsysCluster
) -> None:
    page = logged_in(browser, cluster, "adm.vera")
    page.get_by_role("link", name="Usuarios").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Usuarios")
    username = f"caja.{uuid.uuid4().hex[:6]}"
    new = page.get_by_role("region", name="Nueva cuenta")
    new.get_by_label("Usuario").fill(username)
    new.get_by_label("Nombre completo").fill("Pablo Caja")
    new.get_by_label("Rol").select_option("accountant")
    new.get_by_role("button", name="Crear cuenta").click()
    expect(page.get_by_role("status").first).to_contain_text(f"Cuenta creada: {username}")
    expect(page.get_by_role("row").filter(has_text=username)).to_contain_text("contabilidad")
    shot(page, "office-13-users-added")


def test_a_clerk_removes_the_portal_second_factor_of_a_patient_who_lost_the_phone(
    browser: Browser, cluster: MedsysCluster
) -> None:
    import httpx

    body = uuid.uuid4().int % 9_000_000 + 80_000_000
    rut = f"{body}-{check_digit(body)}"
    registered = httpx.post(
        f"http://127.0.0.1:{cluster.settings.port('nginx')}/patients",
        headers={"Authorization": f"Bearer {cluster.token(Role.CLERK, 'adm.vera')}"},
        json={"rut": rut, "nombre": "Inés Tapia Rojas", "email": "ines@example.cl"},
    )
    assert registered.status_code == 201
    cluster.new_patient_account("clave-de-ines-2026", pyotp.random_base32(), rut=rut)

    page = logged_in(browser, cluster, "adm.vera")
    page.goto(f"http://127.0.0.1:{cluster.settings.port('nginx')}/oficina/pacientes/{rut}")
    confirm = page.get_by_label("Verifiqué la cédula de identidad de Inés Tapia Rojas")
    confirm.focus()
    page.keyboard.press("Space")  # by keyboard
    expect(confirm).to_be_checked()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Segundo factor del portal quitado")
    shot(page, "office-14-portal-second-factor-removed")
    page.close()

    # At home she logs in with the password alone, and sees who did it.
    portal = browser.new_page(viewport={"width": 1000, "height": 900}, locale="es-CL")
    portal.goto(f"http://127.0.0.1:{cluster.settings.port('app3')}/login")
    portal.get_by_label("RUT").fill(rut)
    portal.get_by_label("Contraseña").fill("clave-de-ines-2026")
    portal.get_by_role("button", name="Ingresar").click()
    expect(portal.get_by_role("heading", level=1)).to_contain_text("Hola")
    portal.get_by_role("link", name="Quién vio mi ficha").click()
    removal = portal.get_by_role("row").filter(has_text="Se quitó el segundo factor")
    expect(removal).to_contain_text("adm.vera")
    shot(portal, "15-who-looked-second-factor-removed")
    portal.close()
