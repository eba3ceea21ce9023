"""A patient in a real headless Chromium (Debian's, driven by Playwright; no browser is
downloaded). Screenshots of every page are saved under artifacts/screenshots/."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import MedsysCluster

pytestmark = pytest.mark.integration
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
# The network is closed here: without these Chromium tries to reach Google at every start.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    assert Path(executable).exists(), "Debian's chromium is missing: scripts/test installs it"
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def logged_in(browser: Browser, cluster: MedsysCluster, rut: str) -> Page:
    page = browser.new_page(viewport={"width": 1000, "height": 900}, locale="es-CL")
    page.goto(f"http://127.0.0.1:{cluster.settings.port('app3')}/login")
    page.get_by_label("RUT").fill(rut)
    page.get_by_label("Contraseña").fill(cluster.password(rut))
    page.get_by_role("button", name="Ingresar").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hola")
    return page


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


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
