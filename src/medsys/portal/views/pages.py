"""The patient's pages. What cannot be shown is said in plain words, never a stack trace."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from flask import (
    Blueprint,
    Response,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from medsys.core.clock import SANTIAGO, parse_instant, utc_now
from medsys.core.errors import MedsysError
from medsys.core.rut import InvalidRutError, normalize_rut
from medsys.portal import booking
from medsys.portal.extensions import database, middleware
from medsys.portal.gateway import Refused, Unavailable
from medsys.portal.views.session import current_rut, login_required

blueprint = Blueprint("pages", __name__)
HISTORY_DOWN = "El historial médico no está disponible temporalmente. Intente más tarde."
MONEY_DOWN = "La información de pagos no está disponible temporalmente. Intente más tarde."
AGENDA_DOWN = "La agenda no está disponible temporalmente. Intente más tarde."


def _me() -> str:
    rut = current_rut()
    assert rut is not None  # login_required ran first
    return rut


def _fetch(call: Any, unavailable: str) -> tuple[Any, str | None]:
    try:
        return call(), None
    except Unavailable:
        return None, unavailable
    except Refused as refusal:
        return None, refusal.message


@blueprint.get("/")
@login_required
def home() -> str:
    rut = _me()
    summary, money_problem = _fetch(lambda: middleware().summary(rut, g.request_id), MONEY_DOWN)
    try:
        upcoming = [
            a
            for a in booking.appointments(database(), rut)
            if a.status == "booked" and a.starts_at > utc_now()
        ]
    except MedsysError:
        upcoming = []
    return render_template(
        "home.html", summary=summary, money_problem=money_problem, upcoming=upcoming[:3]
    )


@blueprint.get("/history")
@login_required
def history() -> Any:
    rut = _me()
    asked = request.args.get("rut")
    if asked is not None:
        try:
            asked = normalize_rut(asked)
        except InvalidRutError:
            return render_template("error.html", message="RUT inválido."), 400
        if asked != rut:
            return render_template("error.html", message="Solo puede ver su propio historial."), 403
    record, problem = _fetch(lambda: middleware().history(rut, g.request_id), HISTORY_DOWN)
    return render_template("history.html", record=record, problem=problem)


@blueprint.get("/history/fhir")
@login_required
def history_fhir() -> Any:
    rut = _me()
    bundle, problem = _fetch(lambda: middleware().fhir(rut, g.request_id), HISTORY_DOWN)
    if bundle is None:
        return render_template("error.html", message=problem), 503
    return Response(
        json.dumps(bundle, ensure_ascii=False, indent=2),
        mimetype="application/fhir+json",
        headers={"Content-Disposition": f'attachment; filename="historial-{rut}.json"'},
    )


@blueprint.get("/who-looked")
@login_required
def who_looked() -> Any:
    """Who read my record, when, through which service (Decreto 41)."""
    rut = _me()
    log, problem = _fetch(
        lambda: middleware().access_log(rut, g.request_id),
        "El registro de accesos no está disponible temporalmente.",
    )
    return render_template("who_looked.html", log=log, problem=problem)


@blueprint.get("/payments")
@login_required
def payments() -> str:
    rut = _me()
    summary, problem = _fetch(lambda: middleware().summary(rut, g.request_id), MONEY_DOWN)
    keys = {}
    if summary:
        for invoice in summary.get("invoices", []):
            keys[invoice["number"]] = f"pay-{uuid.uuid4().hex}"
    return render_template("payments.html", summary=summary, problem=problem, keys=keys)


@blueprint.post("/payments/pay")
@login_required
def pay() -> Any:
    rut = _me()
    number = request.form.get("invoice", "")[:20]
    key = request.form.get("key", "")[:64]
    try:
        amount = int(request.form.get("amount", ""))
    except ValueError:
        flash("Monto inválido.", "error")
        return redirect(url_for("pages.payments"))
    if amount <= 0 or len(key) < 8:
        flash("Monto inválido.", "error")
        return redirect(url_for("pages.payments"))
    try:
        middleware().pay(rut, number, amount, key)  # the form's key: a double click pays once
        flash(f"Pago registrado en la factura {number}.", "info")
    except Unavailable:
        flash(MONEY_DOWN + " No se realizó ningún cobro.", "error")
    except Refused as refusal:
        flash(refusal.message, "error")
    return redirect(url_for("pages.payments"))


def _search_window() -> tuple[str, str]:
    day = request.args.get("date")
    if day:
        start = parse_instant(f"{day}T00:00")
        return start.isoformat(), (start + timedelta(days=1)).isoformat()
    start = utc_now()
    return start.isoformat(), (start + timedelta(days=14)).isoformat()


@blueprint.get("/appointments")
@login_required
def appointments() -> Any:
    rut = _me()
    specialty = request.args.get("specialty") or None
    doctor_id = request.args.get("doctor_id") or None
    found: list[dict[str, Any]] | None = []
    problem: str | None = None
    doctors, _ = _fetch(lambda: middleware().doctors(rut), AGENDA_DOWN)
    if request.args.get("search"):
        try:
            start, end = _search_window()
        except MedsysError:
            start = end = ""
            problem = "Fecha inválida."
        if start:
            found, problem = _fetch(
                lambda: middleware().slots(
                    rut,
                    specialty=specialty,
                    doctor_id=doctor_id,
                    **{"from": start, "to": end, "limit": 30},
                ),
                AGENDA_DOWN,
            )
    mine = booking.appointments(database(), rut)
    now = utc_now()
    return render_template(
        "appointments.html",
        doctors=doctors or [],
        slots=found or [],
        problem=problem,
        upcoming=[a for a in mine if a.status == "booked" and a.starts_at > now],
        past=[a for a in mine if a.status != "booked" or a.starts_at <= now],
        replaces=request.args.get("replaces"),
        today=now.astimezone(SANTIAGO).date().isoformat(),
    )


@blueprint.post("/appointments/book")
@login_required
def book() -> Any:
    rut = _me()
    try:
        slot_id = int(request.form.get("slot_id", ""))
        doctor_id = int(request.form.get("doctor_id", ""))
        starts_at = parse_instant(request.form.get("starts_at", ""))
    except (ValueError, MedsysError):
        flash("La hora elegida no es válida.", "error")
        return redirect(url_for("pages.appointments"))
    try:  # the slot as clinical has it now, not as the form says
        window = {
            "from": starts_at.isoformat(),
            "to": (starts_at + timedelta(minutes=1)).isoformat(),
        }
        candidates = middleware().slots(rut, doctor_id=doctor_id, **window)
        slot = next((s for s in candidates if s["id"] == slot_id), None)
        if slot is None:
            flash("Esa hora ya no está disponible.", "error")
            return redirect(url_for("pages.appointments"))
        booking.book(database(), middleware(), rut=rut, slot=slot)
    except (Unavailable, Refused):
        flash(AGENDA_DOWN + " No se reservó ninguna hora.", "error")
        return redirect(url_for("pages.appointments"))
    except MedsysError as error:
        flash(error.message, "error")
        return redirect(url_for("pages.appointments"))
    replaced = request.form.get("replaces")
    if replaced and replaced.isdigit():
        try:
            booking.cancel(database(), middleware(), rut=rut, appointment_id=int(replaced))
            flash("Hora cambiada: la nueva quedó reservada y la anterior anulada.", "info")
        except MedsysError as error:
            problem = (
                f"La nueva hora quedó reservada; la anterior no se pudo anular: {error.message}"
            )
            flash(problem, "error")
    else:
        flash("Hora reservada.", "info")
    return redirect(url_for("pages.appointments"))


@blueprint.post("/appointments/<int:appointment_id>/cancel")
@login_required
def cancel(appointment_id: int) -> Any:
    try:
        booking.cancel(database(), middleware(), rut=_me(), appointment_id=appointment_id)
        flash("Cita anulada.", "info")
    except MedsysError as error:
        flash(error.message, "error")
    return redirect(url_for("pages.appointments"))


@blueprint.app_context_processor
def who() -> dict[str, Any]:
    return {"patient_name": session.get("name"), "patient_rut": session.get("rut")}
