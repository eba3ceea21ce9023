"""The portal over real HTTP (cookies, CSRF) on the real MySQL-protocol pair, middleware,
apps and databases."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from medsys.core.clock import SANTIAGO, parse_instant, utc_now
from medsys.core.keys import signing_key
from medsys.core.tokens import Role, Scope, Service
from medsys.portal.booking import reconcile_pending
from medsys.portal.gateway import Middleware
from medsys.portal.models import Appointment
from tests.conftest import MedsysCluster, client_from, eventually, next_address

pytestmark = pytest.mark.integration
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Browserless:
    """A patient's session without a browser: cookies kept, CSRF tokens read from forms."""

    def __init__(self, cluster: MedsysCluster) -> None:
        self.cluster = cluster
        self.url = f"http://127.0.0.1:{cluster.settings.port('app3')}"
        # Its own source address: login lockout counts per address.
        self.client = client_from(next_address(), base_url=self.url)

    def csrf(self, path: str = "/login") -> str:
        match = CSRF.search(self.client.get(path).text)
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def login(self, rut: str, password: str | None = None) -> httpx.Response:
        form = {
            "csrf_token": self.csrf(),
            "rut": rut,
            "password": password or self.cluster.password(rut),
        }
        return self.client.post("/login", data=form)

    def post(self, path: str, form: dict[str, Any], page: str = "/") -> httpx.Response:
        return self.client.post(path, data={"csrf_token": self.csrf(page), **form})

    def appointments(self, rut: str) -> list[Any]:
        db = self.cluster.database("portal")
        try:
            return list(
                db.read(
                    lambda s: s.execute(
                        text("SELECT status, slot_id FROM appointments WHERE patient_rut = :r"),
                        {"r": rut},
                    ).all()
                )
            )
        finally:
            db.dispose()


@pytest.fixture
def portal(cluster: MedsysCluster) -> Browserless:
    return Browserless(cluster)


def test_login_logout_and_pages(portal: Browserless) -> None:
    assert portal.client.get("/history").status_code == 302
    answer = portal.login("11.111.111-1")
    assert answer.status_code == 302
    history = portal.client.get("/history").text
    assert "Historial médico" in history and "Diagnósticos" in history
    assert "Juan Pérez" in portal.client.get("/").text
    assert portal.client.get("/history?rut=22222222-2").status_code == 403
    assert portal.client.get("/history?rut=11111111-1").status_code == 200
    fhir = portal.client.get("/history/fhir")
    assert fhir.json()["resourceType"] == "Bundle"
    assert "Quién vio mi ficha" in portal.client.get("/who-looked").text
    portal.post("/logout", {})
    assert portal.client.get("/").status_code == 302


def test_wrong_password_and_lockout_per_account(portal: Browserless) -> None:
    answer = portal.login("33333333-3", "equivocada")
    assert answer.status_code == 401 and "RUT o contraseña incorrectos" in answer.text
    for _ in range(4):
        portal.login("33333333-3", "equivocada")
    locked = portal.login("33333333-3")  # even the right password now waits
    assert locked.status_code == 401 and "Demasiados intentos" in locked.text


def test_forms_without_a_valid_csrf_token_are_refused(portal: Browserless) -> None:
    refused = portal.client.post("/login", data={"rut": "11111111-1", "password": "x"})
    assert refused.status_code == 400 and "formulario" in refused.text
    forged = portal.client.post(
        "/login", data={"csrf_token": "forged", "rut": "1-9", "password": "x"}
    )
    assert forged.status_code == 400


def _free_slot(cluster: MedsysCluster, specialty: str) -> dict[str, Any]:
    token = cluster.token(Role.PATIENT, "11111111-1")
    url = f"http://127.0.0.1:{cluster.settings.port('middleware')}/api/slots"
    slots = httpx.get(
        url,
        params={"specialty": specialty, "limit": 80},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ).json()["slots"]
    return dict(slots[-1 - int(uuid.uuid4().int % 20)])


def _seed_body(slot: dict[str, Any], rut: str = "22222222-2", **changes: str) -> dict[str, str]:
    when = datetime.fromisoformat(slot["starts_at"]).astimezone(SANTIAGO).replace(tzinfo=None)
    body = {
        "patient_rut": rut,
        "patient_name": "María",
        "doctor_name": slot["doctor"]["name"],
        "specialty": slot["doctor"]["specialty"],
        "appointment_date": when.isoformat(),
    }
    return {**body, **changes}


def test_the_seeds_appointment_api(portal: Browserless, cluster: MedsysCluster) -> None:
    token = cluster.token(Role.PATIENT, "22222222-2", audience=Service.PORTAL)
    patient = {"Authorization": f"Bearer {token}"}
    slot = _free_slot(cluster, "Cardiología")
    before = len(portal.appointments("22222222-2"))
    assert portal.client.post("/api/appointments", json=_seed_body(slot)).status_code == 401
    made = portal.client.post("/api/appointments", json=_seed_body(slot), headers=patient)
    assert made.status_code == 201, made.text
    taken = portal.client.post("/api/appointments", json=_seed_body(slot), headers=patient)
    assert taken.status_code == 409 and "No hay una hora libre" in taken.json()["message"]
    past = (datetime.now(SANTIAGO) - timedelta(days=1)).replace(tzinfo=None).isoformat()
    for body, status in (
        (_seed_body(slot, appointment_date=past), 422),
        (_seed_body(slot, doctor_name="Dr. Nadie"), 404),
        (_seed_body(slot, patient_rut="12345678-9"), 422),
        (_seed_body(slot, rut="11111111-1"), 403),
        ({"patient_rut": "22222222-2"}, 422),
    ):
        answer = portal.client.post("/api/appointments", json=body, headers=patient)
        assert answer.status_code == status, (body, answer.text)
    rows = portal.appointments("22222222-2")
    assert [r.status for r in rows[before:]] == ["booked"], "refused requests wrote nothing"


def test_book_and_cancel_in_the_portal(portal: Browserless, cluster: MedsysCluster) -> None:
    assert portal.login("11111111-1").status_code == 302
    slot = _free_slot(cluster, "Pediatría")
    form = {
        "slot_id": slot["id"],
        "doctor_id": slot["doctor"]["id"],
        "starts_at": slot["starts_at"],
    }
    portal.post("/appointments/book", form, "/appointments")
    page = portal.client.get("/appointments").text
    notices = re.findall(r'<p class="notice[^>]*>([^<]*)</p>', page)
    assert "Hora reservada." in notices, notices
    assert slot["doctor"]["name"] in page
    booked = re.search(r"/appointments/(\d+)/cancel", page)
    assert booked
    portal.post(f"/appointments/{booked.group(1)}/cancel", {}, "/appointments")
    assert "Cita anulada." in portal.client.get("/appointments").text
    again = _free_slot(cluster, "Pediatría")
    assert again  # the released slot is bookable again (no lost slot)


def test_a_double_click_pays_once(portal: Browserless, cluster: MedsysCluster) -> None:
    portal.login("11111111-1")
    page = portal.client.get("/payments").text
    invoice = re.search(r'name="invoice" value="([^"]+)"', page)
    key = re.search(r'name="key" value="([^"]+)"', page)
    assert invoice and key, "the demo data leaves an invoice to pay"
    form = {"invoice": invoice.group(1), "amount": "100", "key": key.group(1)}
    portal.post("/payments/pay", form, "/payments")
    portal.post("/payments/pay", form, "/payments")
    db = cluster.database("admin")
    try:
        count = db.read(
            lambda s: s.execute(
                text("SELECT COUNT(*) FROM payments WHERE idempotency_key = :k"),
                {"k": key.group(1)},
            ).scalar_one()
        )
    finally:
        db.dispose()
    assert count == 1


def test_the_portal_says_plainly_what_is_down(portal: Browserless, cluster: MedsysCluster) -> None:
    portal.login("11111111-1")
    cluster.stop("app1", "app1-replica")
    try:
        page = portal.client.get("/history")
        assert page.status_code == 200
        assert "El historial médico no está disponible temporalmente" in page.text
        assert "Traceback" not in page.text
        slot_form = {"slot_id": "1", "doctor_id": "1", "starts_at": "2030-01-01T10:00"}
        booked = portal.post("/appointments/book", slot_form, "/appointments")
        assert booked.status_code == 302
        assert "booked" not in {
            r.status for r in portal.appointments("11111111-1") if r.slot_id == 1
        }
    finally:
        cluster.start("app1", "app1-replica")
    health = portal.client.get("/health").json()
    assert health["database"]["reachable"] is True
    eventually(
        lambda: "Diagnósticos" in portal.client.get("/history").text,
        within=30,
        what="history back after the restart",
    )


def test_the_history_page_reads_the_clinical_record_only(
    portal: Browserless, cluster: MedsysCluster
) -> None:
    """The page shows consultations and no demographics: admin's record is neither read
    nor audited for it, and admin's outage leaves the page whole."""
    portal.login("11111111-1")
    page = portal.client.get("/history")
    assert page.status_code == 200 and "Diagnósticos" in page.text
    request_id = page.headers["X-Request-ID"]
    audit = "SELECT resource FROM audit_log WHERE request_id = :r"
    assert cluster.rows_of("clinical", audit, r=request_id) == [("clinical-history",)]
    assert cluster.rows_of("admin", audit, r=request_id) == []
    cluster.stop("nginx")
    try:
        page = portal.client.get("/history")
        assert page.status_code == 200 and "Diagnósticos" in page.text
        assert "no está disponible" not in page.text
    finally:
        cluster.start("nginx")


def test_password_reset_and_lockout_revoking_its_links(
    portal: Browserless, cluster: MedsysCluster
) -> None:
    from medsys.core.passwords import hash_password
    from medsys.core.rut import check_digit
    from medsys.portal.models import Account

    body = uuid.uuid4().int % 30_000_000 + 60_000_000
    rut = f"{body}-{check_digit(body)}"
    clerk = cluster.token(Role.CLERK, "adm.vera")
    created = httpx.post(
        f"http://127.0.0.1:{cluster.settings.port('nginx')}/patients",
        headers={"Authorization": f"Bearer {clerk}"},
        json={"rut": rut, "nombre": "Rosa Reyes", "email": "rosa@example.cl"},
    )
    assert created.status_code == 201
    db = cluster.database("portal")
    db.write(
        lambda s: s.add(
            Account(rut=rut, name="Rosa Reyes", password_hash=hash_password("antigua-123"))
        )
    )
    db.dispose()
    outbox = cluster.settings.mail_dir / "portal-outbox.log"

    def link() -> str:
        asked = portal.post("/recuperar", {"rut": rut}, "/recuperar")
        assert asked.status_code == 302
        lines = [line for line in outbox.read_text().splitlines() if f"rut={rut}" in line]
        return lines[-1].split("link=")[1].split("/restablecer/")[1]

    first = link()
    assert portal.client.get(f"/restablecer/{first}").status_code == 200
    for _ in range(5):
        portal.login(rut, "equivocada")
    assert portal.client.get(f"/restablecer/{first}").status_code == 410, "lockout revoked it"

    second = link()
    page = f"/restablecer/{second}"
    short = portal.post(page, {"password": "corta", "again": "corta"}, page)
    assert short.status_code == 422 and "10 caracteres" in short.text
    differ = portal.post(page, {"password": "nueva-clave-1", "again": "nueva-clave-2"}, page)
    assert differ.status_code == 422
    done = portal.post(
        page, {"password": "nueva-clave-segura", "again": "nueva-clave-segura"}, page
    )
    assert done.status_code == 302
    # Nobody had logged in: admin's audit names the portal's errand (the link's mail, the
    # new account's name), not the patient, and the patient can read it on their page.
    lookup = ("portal", "service", "account-link-lookup", "portal>middleware")
    assert _admin_audit_of(cluster, rut) == [("adm.vera", "clerk", "create", None), lookup, lookup]
    assert portal.client.get(page).status_code == 410, "a link works once"
    assert portal.login(rut, "nueva-clave-segura").status_code == 302, "the reset ended the lockout"
    unknown = portal.post("/recuperar", {"rut": "6-K"}, "/recuperar")
    assert unknown.status_code == 302, "the same answer whether the RUT exists or not"


def test_a_booking_abandoned_half_way_gives_its_slot_back(cluster: MedsysCluster) -> None:
    """The portal reserved the slot, then died before recording the booking: the
    reconciler releases the slot with the booking's own key and marks it failed."""
    rut = "33333333-3"
    slot = _free_slot(cluster, "Medicina General")
    middleware = Middleware(
        f"http://127.0.0.1:{cluster.settings.port('middleware')}",
        signing_key(cluster.settings, Service.PORTAL),
    )
    key = f"portal-{uuid.uuid4().hex}"
    middleware.reserve(rut, int(slot["id"]), key)
    now = utc_now()
    database = cluster.database("portal")
    try:

        def record(session: Session, when: datetime, reservation: str) -> int:
            pending = Appointment(
                patient_rut=rut,
                slot_id=int(slot["id"]),
                reservation_key=reservation,
                doctor_name=slot["doctor"]["name"],
                specialty=slot["doctor"]["specialty"],
                starts_at=parse_instant(slot["starts_at"]),
                status="pending",
                created_at=when,
                updated_at=when,
            )
            session.add(pending)
            session.flush()
            return pending.id

        abandoned = database.write(lambda s: record(s, now - timedelta(minutes=10), key))
        in_flight = database.write(
            lambda s: record(s, now, f"portal-{uuid.uuid4().hex}")  # a booking happening now
        )
        done = reconcile_pending(database, middleware)
        assert abandoned in done and in_flight not in done
        statuses = dict(
            database.read(
                lambda s: s.execute(
                    select(Appointment.id, Appointment.status).where(
                        Appointment.id.in_((abandoned, in_flight))
                    )
                ).all()
            )
        )
        assert statuses == {abandoned: "failed", in_flight: "pending"}
        free_ids = {s["id"] for s in middleware.slots(rut, specialty="Medicina General", limit=200)}
        assert int(slot["id"]) in free_ids, "the abandoned booking's slot is bookable again"
        assert reconcile_pending(database, middleware) == [], "done once, not again"
    finally:
        database.dispose()


def test_logout_ends_the_session_even_for_a_copied_cookie(cluster: MedsysCluster) -> None:
    rut = cluster.new_patient_account("clave-de-prueba-1")
    portal = Browserless(cluster)
    assert portal.login(rut, "clave-de-prueba-1").status_code == 302
    copied = dict(portal.client.cookies)
    assert portal.client.get("/").status_code == 200
    portal.post("/logout", {})
    thief = client_from(next_address(), base_url=portal.url, cookies=copied)
    assert thief.get("/").status_code == 302, "the signed cookie alone opens nothing"


def test_a_new_password_ends_the_other_sessions(cluster: MedsysCluster) -> None:
    rut = cluster.new_patient_account("clave-de-prueba-2")
    here, there = Browserless(cluster), Browserless(cluster)
    for browser in (here, there):
        assert browser.login(rut, "clave-de-prueba-2").status_code == 302
    wrong = here.post(
        "/clave",
        {"current": "no-es-esta", "password": "clave-nueva-123", "again": "clave-nueva-123"},
        "/clave",
    )
    assert wrong.status_code == 422 and "actual no es correcta" in wrong.text
    changed = here.post(
        "/clave",
        {"current": "clave-de-prueba-2", "password": "clave-nueva-123", "again": "clave-nueva-123"},
        "/clave",
    )
    assert changed.status_code == 302
    assert here.client.get("/").status_code == 200, "this browser keeps a fresh session"
    assert there.client.get("/").status_code == 302, "the other one is logged out"
    assert Browserless(cluster).login(rut, "clave-de-prueba-2").status_code == 401


def test_wrong_second_factor_codes_count_toward_the_lockout(cluster: MedsysCluster) -> None:
    import pyotp

    secret = pyotp.random_base32()
    rut = cluster.new_patient_account("clave-de-prueba-3", totp_secret=secret)
    portal = Browserless(cluster)
    for _ in range(5):
        assert portal.login(rut, "clave-de-prueba-3").headers["location"].endswith("/codigo")
        wrong = portal.post("/login/codigo", {"code": "000000"}, "/login/codigo")
        assert wrong.status_code == 401
    locked = portal.login(rut, "clave-de-prueba-3")
    assert locked.status_code == 401 and "Demasiados intentos" in locked.text


def test_the_agenda_page_copes_with_a_doctor_without_a_specialty(
    portal: Browserless, cluster: MedsysCluster
) -> None:
    from medsys.core.rut import check_digit

    body = uuid.uuid4().int % 9_000_000 + 5_000_000
    name = f"dr.{uuid.uuid4().hex[:8]}"
    cluster.medsys(
        "user",
        "add",
        name,
        "--role",
        "doctor",
        "--name",
        "Dr. Sin Especialidad",
        "--rut",
        f"{body}-{check_digit(body)}",
    )
    assert portal.login("11111111-1").status_code == 302
    page = portal.client.get("/appointments")
    assert page.status_code == 200 and "Dr. Sin Especialidad" in page.text


def test_reset_links_never_follow_the_host_header(
    portal: Browserless, cluster: MedsysCluster
) -> None:
    outbox = cluster.settings.mail_dir / "portal-outbox.log"
    before = outbox.read_text() if outbox.exists() else ""
    token = portal.csrf("/recuperar")
    forged = portal.client.post(
        "/recuperar",
        data={"rut": "11111111-1", "csrf_token": token},
        headers={"Host": "attacker.example", "Referer": f"{portal.url}/recuperar"},
    )
    assert forged.status_code == 400
    assert (outbox.read_text() if outbox.exists() else "") == before, "nothing was mailed"
    asked = portal.post("/recuperar", {"rut": "11111111-1"}, "/recuperar")
    assert asked.status_code == 302
    sent = outbox.read_text()[len(before) :].splitlines()
    assert sent and sent[-1].split("link=")[1].startswith(f"{portal.url}/restablecer/")
    # The outbox holds live links: the portal's account alone reads it.
    assert outbox.stat().st_mode & 0o077 == 0
    assert outbox.parent.stat().st_mode & 0o077 == 0


def test_personal_pages_and_answers_are_never_stored(
    portal: Browserless, cluster: MedsysCluster
) -> None:
    portal.login("11111111-1")
    for path in ("/", "/history", "/login"):
        assert portal.client.get(path).headers["cache-control"] == "no-store", path
    assert "no-store" not in portal.client.get("/look/medsys.css").headers.get("cache-control", "")
    patient = cluster.token(Role.PATIENT, "11111111-1")
    clerk = cluster.token(Role.CLERK, "adm.vera")
    doctor = cluster.token(Role.DOCTOR, "dr.rojas")
    answers = {
        "middleware": (
            cluster.settings.url("middleware"),
            "/api/medical-history/11111111-1",
            patient,
        ),
        "admin": (cluster.settings.url("nginx"), "/patients?rut=11111111-1", clerk),
        "clinical": (cluster.settings.url("app1"), "/api/patients/11111111-1/history", doctor),
    }
    for name, (base, path, token) in answers.items():
        answer = httpx.get(base + path, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200, (name, answer.text[:200])
        assert answer.headers["cache-control"] == "no-store", name
        assert answer.headers["x-content-type-options"] == "nosniff", name


def test_a_session_ends_at_its_absolute_lifetime_however_busy(
    portal: Browserless, cluster: MedsysCluster
) -> None:
    assert portal.login("22222222-2").status_code == 302
    assert portal.client.get("/history").status_code == 200
    db = cluster.database("portal")
    # Active a moment ago, but opened longer ago than a session may live.
    db.write(
        lambda s: s.execute(
            text(
                "UPDATE sessions SET expires_at = :past, last_seen_at = :now "
                "WHERE account = '22222222-2' AND revoked_at IS NULL"
            ),
            {"past": utc_now() - timedelta(seconds=1), "now": utc_now()},
        )
    )
    db.dispose()
    ended = portal.client.get("/history")
    assert ended.status_code == 302 and "/login" in ended.headers["location"]


def test_a_patient_the_clinic_registered_creates_a_portal_account(
    portal: Browserless, cluster: MedsysCluster
) -> None:
    from medsys.core.rut import check_digit

    def registered(email: str | None) -> str:
        body = uuid.uuid4().int % 30_000_000 + 60_000_000
        rut = f"{body}-{check_digit(body)}"
        created = httpx.post(
            f"http://127.0.0.1:{cluster.settings.port('nginx')}/patients",
            headers={"Authorization": f"Bearer {cluster.token(Role.CLERK, 'adm.vera')}"},
            json={"rut": rut, "nombre": "Inés Carrasco", **({"email": email} if email else {})},
        )
        assert created.status_code == 201, created.text
        return rut

    outbox = cluster.settings.mail_dir / "portal-outbox.log"

    def mailed(rut: str) -> list[str]:
        text_ = outbox.read_text() if outbox.exists() else ""
        return [line for line in text_.splitlines() if f"rut={rut}" in line]

    def ask(rut: str) -> httpx.Response:
        asked = portal.post("/crear-cuenta", {"rut": rut}, "/crear-cuenta")
        assert asked.status_code == 302, "the same answer for everyone"
        return asked

    rut = registered("ines@example.cl")
    assert portal.login(rut, "cualquier-cosa-larga").status_code != 302
    ask(rut)
    [line] = mailed(rut)
    assert "to=ines@example.cl" in line and "subject=Crear su cuenta del portal" in line
    page = "/restablecer/" + line.split("/restablecer/")[1]
    assert portal.client.get(page).status_code == 200
    done = portal.post(page, {"password": "mi-primera-clave", "again": "mi-primera-clave"}, page)
    assert done.status_code == 302
    # Nobody had logged in: admin's audit names the portal's errand (the link's mail, the
    # new account's name), not the patient, and the patient can read it on their page.
    lookup = ("portal", "service", "account-link-lookup", "portal>middleware")
    assert _admin_audit_of(cluster, rut) == [("adm.vera", "clerk", "create", None), lookup, lookup]
    assert portal.client.get(page).status_code == 410, "a link works once"
    assert portal.login(rut, "mi-primera-clave").status_code == 302
    assert "Inés Carrasco" in portal.client.get("/").text  # the registry's name
    # Asking again once the account exists mails a plain reset, not a second account.
    ask(rut)
    assert "subject=Recuperar contraseña" in mailed(rut)[-1]
    # No address on file, or not a patient here: nothing is mailed, and nothing is said.
    silent = registered(None)
    ask(silent)
    ask("6-K")
    assert mailed(silent) == [] and mailed("6-K") == []
    bad = portal.post("/crear-cuenta", {"rut": "12.345.678-0"}, "/crear-cuenta")
    assert bad.status_code == 422
    looked = portal.client.get("/who-looked").text
    assert "Portal de pacientes, sin sesión iniciada" in looked
    assert "Alguien pidió un enlace de acceso con su RUT" in looked


def _admin_audit_of(cluster: MedsysCluster, rut: str) -> list[tuple[object, ...]]:
    return cluster.rows_of(
        "admin",
        "SELECT actor, actor_role, action, via_service FROM audit_log "
        "WHERE patient_rut = :r ORDER BY id",
        r=rut,
    )


def test_a_token_for_the_account_link_errand_reaches_nothing_else(
    cluster: MedsysCluster,
) -> None:
    """The portal's pre-login token names a RUT nobody proved: it must not read that
    patient's history, payments or summary, anywhere."""
    rut = "11111111-1"
    signer = signing_key(cluster.settings, Service.PORTAL)
    errand = signer.issue(Role.PATIENT, rut, audience=Service.MIDDLEWARE, scope=Scope.ACCOUNT_LINK)
    middleware = f"http://127.0.0.1:{cluster.settings.port('middleware')}"
    headers = {"Authorization": f"Bearer {errand}"}
    for path in (
        f"/api/medical-history/{rut}",
        f"/api/patient/{rut}",
        f"/api/payments/{rut}",
        f"/api/access-log/{rut}",
        f"/fhir/Patient/{rut}/$everything",
    ):
        refused = httpx.get(middleware + path, headers=headers)
        assert refused.status_code == 403, (path, refused.text)
    found = httpx.get(f"{middleware}/api/account-contact/{rut}", headers=headers)
    assert found.status_code == 200, found.text
    assert set(found.json()) == {"rut", "nombre", "email"}
    other = httpx.get(f"{middleware}/api/account-contact/22222222-2", headers=headers)
    assert other.status_code == 403, "still confined to the RUT it names"
    # An ordinary patient token is not the errand's.
    plain = signer.issue(Role.PATIENT, rut, audience=Service.MIDDLEWARE)
    refused = httpx.get(
        f"{middleware}/api/account-contact/{rut}", headers={"Authorization": f"Bearer {plain}"}
    )
    assert refused.status_code == 403


def test_link_requests_are_limited_per_rut_whoever_asks(cluster: MedsysCluster) -> None:
    from medsys.core.rut import check_digit

    body = uuid.uuid4().int % 30_000_000 + 60_000_000
    rut = f"{body}-{check_digit(body)}"  # no such patient: the limit must not tell
    for page in ("/recuperar", "/crear-cuenta", "/recuperar", "/crear-cuenta", "/recuperar"):
        asker = Browserless(cluster)
        assert asker.post(page, {"rut": rut}, page).status_code == 302
    sixth = Browserless(cluster).post("/crear-cuenta", {"rut": rut}, "/crear-cuenta")
    assert sixth.status_code == 429 and "Espere 15 minutos" in sixth.text
    another = f"{body + 1}-{check_digit(body + 1)}"
    other = Browserless(cluster).post("/recuperar", {"rut": another}, "/recuperar")
    assert other.status_code == 302, "another RUT is not held back"


def test_a_patient_who_lost_the_phone_gets_the_second_factor_removed(
    cluster: MedsysCluster,
) -> None:
    import pyotp

    rut = cluster.new_patient_account("clave-de-prueba-4", totp_secret=pyotp.random_base32())
    portal = Browserless(cluster)
    assert portal.login(rut, "clave-de-prueba-4").headers["location"].endswith("/codigo")
    removed = cluster.medsys("patient", "reset-second-factor", rut).stdout
    assert f"{rut}: portal second factor removed" in removed
    assert portal.login(rut, "clave-de-prueba-4").headers["location"].endswith("/")
    rows = cluster.rows_of(
        "portal", "SELECT actor, action FROM audit_log WHERE resource = :r", r=f"cuenta:{rut}"
    )
    assert rows == [("operador", "reset-second-factor")]
    unknown = cluster.medsys("patient", "reset-second-factor", "6-K", check=False)
    assert unknown.returncode == 2 and "no portal account" in unknown.stderr


def test_only_a_clerks_token_removes_a_second_factor_through_the_portal_api(
    cluster: MedsysCluster,
) -> None:
    """The front office's errand at the portal (admin's token for the portal): a clerk
    in person only; anyone else, a bad RUT or an unknown account changes nothing."""
    import pyotp

    secret = pyotp.random_base32()
    rut = cluster.new_patient_account("clave-de-prueba-5", totp_secret=secret)
    url = (
        f"http://127.0.0.1:{cluster.settings.port('app3')}/api/accounts/{rut}/second-factor/remove"
    )

    def post(token: str | None, address: str = url) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.post(address, headers=headers)

    portal = Browserless(cluster)
    patient = cluster.token(Role.PATIENT, rut, audience=Service.PORTAL)
    accountant = cluster.token(Role.ACCOUNTANT, "cont.rojas", audience=Service.PORTAL)
    clerk = cluster.token(Role.CLERK, "adm.vera", audience=Service.PORTAL)
    for refused, status in (
        (None, 401),
        (patient, 403),
        (accountant, 403),
        (cluster.token(Role.CLERK, "adm.vera", audience=Service.ADMIN), 401),
        (cluster.token(Role.DOCTOR, "dra.rojas", audience=Service.PORTAL), 401),
    ):
        assert post(refused).status_code == status
    assert post(clerk, url.replace(rut, "12345678-0")).status_code == 422
    assert post(clerk, url.replace(rut, "6-K")).status_code == 404
    assert portal.login(rut, "clave-de-prueba-5").headers["location"].endswith("/codigo")
    code = portal.post("/login/codigo", {"code": pyotp.TOTP(secret).now()}, "/login/codigo")
    assert code.status_code == 302 and portal.client.get("/history").status_code == 200

    removed = post(clerk)
    assert removed.status_code == 200, removed.text
    assert removed.json() == {"rut": rut, "second_factor": "removed", "sessions_ended": 1}
    assert portal.client.get("/history").headers["location"].endswith("/login")  # ended
    assert portal.login(rut, "clave-de-prueba-5").headers["location"].endswith("/")
    rows = cluster.rows_of(
        "portal",
        "SELECT actor, actor_role, via_service FROM audit_log WHERE resource = :r",
        r=f"cuenta:{rut}",
    )
    assert rows == [("adm.vera", "clerk", "admin")]
