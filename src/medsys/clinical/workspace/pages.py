"""Login, the agenda, patient search and the chart."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import flash, redirect, render_template, request, session, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from medsys.clinical import records, vitals
from medsys.clinical.extensions import database, registry, staff_directory
from medsys.clinical.models import (
    Consultation,
    DiagnosisStatus,
    Slot,
    SlotStatus,
    Staff,
    TreatmentStatus,
)
from medsys.clinical.schemas import AllergyIn
from medsys.clinical.visits import LABELS, VisitEvent, status_of
from medsys.clinical.web import audit, request_id
from medsys.clinical.workspace.common import (
    blueprint,
    day_start,
    detached,
    local_day,
    names_of,
    submitted,
)
from medsys.clinical.workspace.session import caller, log_in, staff_page
from medsys.core.audit import access_log
from medsys.core.clock import SANTIAGO
from medsys.core.errors import Forbidden, MedsysError, NotFound
from medsys.core.rut import InvalidRutError, normalize_rut
from medsys.core.staff import Locked, SecondFactorRequired
from medsys.core.text_search import search_words
from medsys.core.tokens import Role
from medsys.core.validation import validate

WEEKDAYS = ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"]


# --- login ---------------------------------------------------------------------------------
def _safe_next(target: str | None) -> str:
    if target and target.startswith("/clinica/") and not target.startswith("//"):
        return target
    return url_for("workspace.agenda")


@blueprint.get("/ingresar")
def login() -> str:
    return render_template("login.html", next=request.args.get("next", ""), ask_code=False)


@blueprint.post("/ingresar")
def login_submit() -> Any:
    username = request.form.get("usuario", "").strip()
    password = request.form.get("clave", "")
    code = request.form.get("codigo", "").strip() or None
    target = request.form.get("next", "")
    address = (request.remote_addr or "desconocida")[:64]
    try:
        grant = staff_directory().login(username, password, code, address)
    except SecondFactorRequired as needed:
        flash(needed.message, "info")
        return render_template("login.html", next=target, ask_code=True, username=username)
    except (Locked, MedsysError) as refusal:
        flash(refusal.message, "error")
        status = refusal.status if refusal.status in (401, 429) else 400
        return render_template(
            "login.html", next=target, ask_code=bool(code), username=username
        ), status
    log_in(grant)
    return redirect(_safe_next(target))


@blueprint.post("/salir")
@staff_page()
def logout() -> Response:
    staff_directory().logout(caller().claims)
    session.clear()
    flash("Sesión cerrada.", "info")
    return redirect(url_for("workspace.login"))


# --- the agenda ----------------------------------------------------------------------------
def own_doctor(db: Session) -> Staff | None:
    """The logged-in doctor's row in the agenda (None for a nurse)."""
    if caller().role is not Role.DOCTOR:
        return None
    found: Staff | None = db.scalar(select(Staff).where(Staff.username == caller().who))
    return found


@blueprint.get("/")
@blueprint.get("/agenda")
@staff_page()
def agenda() -> str:
    day = local_day(request.args.get("dia"))
    week = request.args.get("vista") == "semana"
    first = day - timedelta(days=day.weekday()) if week else day
    last = first + timedelta(days=7 if week else 1)

    def read(db: Session) -> dict[str, Any]:
        doctor = own_doctor(db)
        slots = records.agenda(
            db,
            doctor_id=doctor.id if doctor else None,
            start=day_start(first),
            end=day_start(last),
        )
        ids = [slot.id for slot in slots]
        linked = db.scalars(select(Consultation).where(Consultation.slot_id.in_(ids)))
        return {
            "doctor": doctor,
            "rows": [_agenda_row(slot) for slot in slots],
            "consultations": {c.slot_id: c.id for c in linked},
        }

    seen = database().read(read)
    names = names_of([row["rut"] for row in seen["rows"] if row["rut"]])
    return render_template(
        "agenda.html",
        day=day,
        first=first,
        last=last - timedelta(days=1),
        week=week,
        rows=seen["rows"],
        consultations=seen["consultations"],
        doctor=seen["doctor"],
        names=names,
        previous=(first - timedelta(days=7 if week else 1)).isoformat(),
        following=(first + timedelta(days=7 if week else 1)).isoformat(),
        weekdays=WEEKDAYS,
    )


def _agenda_row(slot: Slot) -> dict[str, Any]:
    status = status_of(slot.status == SlotStatus.RESERVED, slot.visit_status)
    local = slot.starts_at.astimezone(SANTIAGO)
    return {
        "id": slot.id,
        "day": local.date(),
        "time": local.strftime("%H:%M"),
        "doctor": slot.doctor.full_name,
        "doctor_username": slot.doctor.username,
        "rut": slot.patient_rut,
        "blocked": slot.status == SlotStatus.BLOCKED,
        "note": slot.note,
        "status": status.value if status else None,
        "label": LABELS[status] if status else "Bloqueado",
    }


def _visit(slot_id: int, event: VisitEvent, done: str) -> Response:
    def work(db: Session) -> str:
        found = records.record_visit(db, slot_id=slot_id, event=event)
        audit(db, action="update", resource="visit", patient_rut=found.patient_rut)
        day = found.starts_at.astimezone(SANTIAGO).date().isoformat()
        return url_for("workspace.agenda", dia=day)

    return submitted(work, done)


@blueprint.post("/agenda/<int:slot_id>/llegada")
@staff_page()
def check_in(slot_id: int) -> Response:
    return _visit(slot_id, VisitEvent.CHECK_IN, "Llegada registrada.")


@blueprint.post("/agenda/<int:slot_id>/inasistencia")
@staff_page()
def no_show(slot_id: int) -> Response:
    return _visit(slot_id, VisitEvent.NO_SHOW, "Inasistencia registrada.")


@blueprint.post("/agenda/<int:slot_id>/iniciar")
@staff_page(Role.DOCTOR)
def start(slot_id: int) -> Response:
    reason = request.form.get("motivo", "").strip() or "Consulta agendada"

    def work(db: Session) -> str:
        visit = records.slot(db, slot_id=slot_id)
        if visit.doctor.username != caller().who:
            raise Forbidden("Solo el médico de la hora puede iniciar su consulta.")
        started = records.start_visit(db, slot_id=slot_id, author=caller().who, reason=reason)
        audit(db, action="create", resource="consultation", patient_rut=started.patient_rut)
        return url_for("workspace.consultation", consultation_id=started.id)

    return submitted(work, "Consulta iniciada.")


# --- patients ------------------------------------------------------------------------------
@blueprint.get("/pacientes")
@staff_page()
def patients() -> str:
    text = request.args.get("q", "").strip()
    rut = None
    if text:
        try:
            rut = normalize_rut(text)
        except InvalidRutError:
            rut = None
    # Punctuation alone ("--") names no one: admin refuses it, so it is not asked.
    searchable = len(text) >= 2 and bool(search_words(text))
    found = registry().search(caller(), text, request_id()) if searchable else None
    return render_template("patients.html", q=text, found=found, rut=rut)


@blueprint.get("/pacientes/<rut>")
@staff_page()
def chart(rut: str) -> str:
    patient = chart_rut(rut)

    def read(db: Session) -> dict[str, Any]:
        consultations = records.chart(db, rut=patient)
        audit(db, action="read", resource="chart", patient_rut=patient)
        return detached(
            db,
            {
                "consultations": consultations,
                "allergies": records.allergies(db, rut=patient),
                "readers": access_log(db, patient_rut=patient, limit=15),
                **_chart_summary(consultations),
            },
        )

    seen = database().write(read)
    names = names_of([patient])
    return render_template(
        "chart.html", rut=patient, names=names, vital_labels=vitals.LABELS, **seen
    )


def _chart_summary(consultations: list[records.ConsultationRecord]) -> dict[str, Any]:
    problems: dict[str, Any] = {}
    medications = []
    observations = []
    for consultation in consultations:  # newest first
        for diagnosis in consultation.diagnoses:
            if diagnosis.status == DiagnosisStatus.CONFIRMED and diagnosis.code not in problems:
                problems[diagnosis.code] = diagnosis
        medications += [
            t
            for t in consultation.treatments
            if t.kind == "medication" and t.status == TreatmentStatus.ACTIVE
        ]
        observations += [
            (o.kind, o.value, o.recorded_at.astimezone(SANTIAGO)) for o in consultation.observations
        ]
    lines = vitals.series(observations)
    charts = [
        vitals.svg_chart(
            "Presión arterial",
            {"Sistólica": lines["systolic"], "Diastólica": lines["diastolic"]},
            "mmHg",
        ),
        vitals.svg_chart("Peso", {"Peso": lines[vitals.WEIGHT]}, "kg"),
        vitals.svg_chart("Temperatura", {"Temperatura": lines[vitals.TEMPERATURE]}, "°C"),
    ]
    return {"problems": list(problems.values()), "medications": medications, "charts": charts}


@blueprint.post("/pacientes/<rut>/alergias")
@staff_page()
def add_allergy(rut: str) -> Response:
    patient = chart_rut(rut)

    def work(db: Session) -> str:
        data = validate(
            AllergyIn,
            {
                "substance": request.form.get("sustancia", ""),
                "reaction": request.form.get("reaccion") or None,
            },
        )
        records.add_allergy(db, rut=patient, data=data, author=caller().who)
        audit(db, action="create", resource="allergy", patient_rut=patient)
        return url_for("workspace.chart", rut=patient)

    return submitted(work, "Alergia registrada.")


def chart_rut(text: str) -> str:
    try:
        return normalize_rut(text)
    except InvalidRutError as error:
        raise NotFound(str(error)) from None
