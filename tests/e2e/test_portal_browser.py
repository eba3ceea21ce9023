"""A patient in a real headless Chromium (Debian's, driven by Playwright; no browser is
downloaded). Screenshots of every page are saved under artifacts/screenshots/."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from medsys.core.tokens import Role
from tests.conftest import MedsysCluster
from tests.e2e.conftest import shot

pytestmark = pytest.mark.integration


def logged_in(browser: Browser, cluster: MedsysCluster, rut: str) -> Page:
    page = browser.new_page(viewport={"width": 1000, "height": 900}, locale="es-CL")
    page.goto(f"http://127.0.0.1:{cluster.settings.port('app3')}/login")
    page.get_by_label("RUT").fill(rut)
    page.get_by_label("Contraseña").fill(cluster.password(rut))
    page.get_by_role("button", name="Ingresar").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hola")
    return page


def test_a_wrong_password_says_so(browser: Browser, cluster: MedsysCluster) -> None:
    page = browser.new_page()
    page.goto(f"http://127.0.0.1:{cluster.settings.port('app3')}/login")
    page.get_by_label("RUT").fill("22.222.222-2")
    page.get_by_label("Contraseña").fill("no-es-esta")
    page.get_by_role("button", name="Ingresar").click()
    expect(page.get_by_role("alert")).to_contain_text("RUT o contraseña incorrectos")
    shot(page, "01-login-error")


def test_history_booking_cancelling_and_paying(browser: Browser, cluster: MedsysCluster) -> None:
    page = logged_in(browser, cluster, "22.222.222-2")
    shot(page, "02-home")

    page.get_by_role("link", name="Historial", exact=True).click()
    expect(page.get_by_role("heading", name="Historial médico")).to_be_visible()
    expect(page.get_by_text("Control de salud de rutina del niño")).to_be_visible()
    shot(page, "03-history")

    page.get_by_role("link", name="Citas", exact=True).click()
    page.get_by_label("Especialidad").select_option("Traumatología")
    page.get_by_role("button", name="Buscar").click()
    page.get_by_role("button", name="Reservar").first.click()
    expect(page.get_by_role("status")).to_contain_text("Hora reservada.")
    shot(page, "04-booked")
    page.get_by_role("button", name="Anular").first.click()
    expect(page.get_by_role("status")).to_contain_text("Cita anulada.")
    shot(page, "05-cancelled")

    page.get_by_role("link", name="Pagos", exact=True).click()
    pay = page.get_by_role("button", name="Pagar").first
    expect(pay).to_be_visible()
    pay.click()
    expect(page.get_by_role("status")).to_contain_text("Pago registrado")
    shot(page, "06-paid")

    page.get_by_role("link", name="Quién vio mi ficha").click()
    expect(page.get_by_role("table")).to_contain_text("Usted")
    shot(page, "07-who-looked")


def test_the_degraded_message_while_clinical_is_down(
    browser: Browser, cluster: MedsysCluster
) -> None:
    page = logged_in(browser, cluster, "22222222-2")
    cluster.stop("app1", "app1-replica")
    try:
        page.get_by_role("link", name="Historial", exact=True).click()
        expect(page.get_by_role("alert")).to_contain_text(
            "El historial médico no está disponible temporalmente"
        )
        shot(page, "08-history-unavailable")
    finally:
        cluster.start("app1", "app1-replica")


def test_changing_the_password_by_keyboard_ends_the_other_sessions(
    browser: Browser, cluster: MedsysCluster
) -> None:
    import uuid

    from medsys.core.passwords import hash_password
    from medsys.core.rut import check_digit
    from medsys.portal.models import Account

    body = uuid.uuid4().int % 9_000_000 + 70_000_000
    rut = f"{body}-{check_digit(body)}"
    db = cluster.database("portal")
    db.write(
        lambda s: s.add(
            Account(rut=rut, name="Rosa Díaz", password_hash=hash_password("clave-antigua-1"))
        )
    )
    db.dispose()
    clerk = cluster.token(Role.CLERK, "adm.vera")
    registered = httpx.post(
        f"http://127.0.0.1:{cluster.settings.port('nginx')}/patients",
        headers={"Authorization": f"Bearer {clerk}"},
        json={"rut": rut, "nombre": "Rosa Díaz"},
    )
    assert registered.status_code == 201, registered.text
    login = f"http://127.0.0.1:{cluster.settings.port('app3')}/login"

    def enter(password: str) -> Page:
        page = browser.new_page(viewport={"width": 1000, "height": 900}, locale="es-CL")
        page.goto(login)
        page.get_by_label("RUT").fill(rut)
        page.get_by_label("Contraseña").fill(password)
        page.keyboard.press("Enter")
        return page

    other = enter("clave-antigua-1")
    expect(other.get_by_role("heading", level=1)).to_contain_text("Hola")
    page = enter("clave-antigua-1")
    page.get_by_role("link", name="Seguridad").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Cambiar contraseña")
    page.get_by_label("Contraseña actual").fill("clave-antigua-1")
    page.keyboard.press("Tab")
    page.keyboard.type("clave-nueva-2026")
    page.keyboard.press("Tab")
    page.keyboard.type("clave-nueva-2026")
    shot(page, "09-password-change")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Se cerraron sus otras sesiones")
    shot(page, "10-password-changed")
    other.get_by_role("link", name="Historial", exact=True).click()
    expect(other.get_by_role("heading", level=1)).to_have_text("Ingresar")


def test_a_new_patient_creates_her_portal_account_from_the_mailed_link(
    browser: Browser, cluster: MedsysCluster
) -> None:
    import uuid

    from medsys.core.rut import check_digit

    body = uuid.uuid4().int % 30_000_000 + 60_000_000
    rut = f"{body}-{check_digit(body)}"
    registered = httpx.post(  # at reception, as a clerk does
        f"http://127.0.0.1:{cluster.settings.port('nginx')}/patients",
        headers={"Authorization": f"Bearer {cluster.token(Role.CLERK, 'adm.vera')}"},
        json={"rut": rut, "nombre": "Marta Soto Vidal", "email": "marta@example.cl"},
    )
    assert registered.status_code == 201
    page = browser.new_page(viewport={"width": 1000, "height": 900}, locale="es-CL")
    page.goto(f"http://127.0.0.1:{cluster.settings.port('app3')}/login")
    page.get_by_role("link", name="¿Primera vez? Cree su cuenta").click()
    page.get_by_label("RUT").fill(rut)
    shot(page, "12-create-account")
    page.get_by_label("RUT").press("Enter")  # by keyboard
    expect(page.get_by_role("status")).to_contain_text("le enviamos un enlace")
    outbox = cluster.settings.mail_dir / "portal-outbox.log"
    [line] = [x for x in outbox.read_text().splitlines() if f"rut={rut}" in x]
    page.goto(line.split("link=")[1])
    page.get_by_label("Contraseña nueva").fill("clave-de-marta-2026")
    page.get_by_label("Repítala").fill("clave-de-marta-2026")
    page.get_by_role("button", name="Guardar").click()
    page.get_by_label("RUT").fill(rut)
    page.get_by_label("Contraseña").fill("clave-de-marta-2026")
    page.get_by_role("button", name="Ingresar").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hola")
    shot(page, "13-first-login")

    # The registry was asked for her e-mail address before she had an account: she is told.
    page.get_by_role("link", name="Quién vio mi ficha").click()
    expect(page.get_by_role("table")).to_contain_text(
        "Alguien pidió un enlace de acceso con su RUT: se buscó su correo"
    )
    shot(page, "14-who-looked-link-request")
