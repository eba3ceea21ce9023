"""A doctor's own hours: weekly hours that become bookable slots, and a range blocked in
one step (a vacation, a course); patients already booked in it are listed to be called."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import flash, render_template, request, url_for
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from medsys.clinical import records
from medsys.clinical.extensions import database
from medsys.clinical.models import Slot
from medsys.clinical.schemas import BlockIn, ScheduleIn
from medsys.clinical.workspace.common import blueprint, day_start, local_day, submitted
from medsys.clinical.workspace.pages import WEEKDAYS, own_doctor
from medsys.clinical.workspace.session import staff_page
from medsys.core.clock import SANTIAGO
from medsys.core.errors import Forbidden, InvalidInput
from medsys.core.tokens import Role
from medsys.core.validation import validate


def _doctor_id(db: Session) -> int:
    doctor = own_doctor(db)
    if doctor is None:
        raise Forbidden("Solo un médico define su horario.")
    return doctor.id


@blueprint.get("/horario")
@staff_page(Role.DOCTOR)
def schedule() -> str:
    def read(db: Session) -> dict[str, Any]:
        doctor_id = _doctor_id(db)
        today = day_start(local_day(None))
        slots = records.agenda(
            db, doctor_id=doctor_id, start=today, end=today + timedelta(days=120)
        )
        return {
            "rules": records.schedule_rules(db, doctor_id=doctor_id),
            "blocked": blocked_ranges([s for s in slots if s.status == "blocked"]),
        }

    return render_template("schedule.html", weekdays=WEEKDAYS, **database().read(read))


@blueprint.post("/horario/semanal")
@staff_page(Role.DOCTOR)
def add_hours() -> Response:
    def work(db: Session) -> str:
        rule = validate(
            ScheduleIn,
            {
                "weekday": request.form.get("dia", ""),
                "start": request.form.get("desde", ""),
                "end": request.form.get("hasta", ""),
                "slot_minutes": request.form.get("minutos", "30"),
                "weeks": request.form.get("semanas", "4"),
            },
        )
        created = records.add_schedule(db, doctor_id=_doctor_id(db), rule=rule)
        flash(f"{len(created)} horas disponibles creadas.", "info")
        return url_for("workspace.schedule")

    return submitted(work, "Horario guardado.")


@blueprint.post("/horario/bloqueo")
@staff_page(Role.DOCTOR)
def block() -> Response:
    def work(db: Session) -> str:
        reason = validate(BlockIn, {"reason": request.form.get("motivo", "")}).reason
        try:
            first = date.fromisoformat(request.form.get("desde", ""))
            last = date.fromisoformat(request.form.get("hasta", ""))
        except ValueError:
            raise InvalidInput("Indique las fechas de inicio y término del bloqueo.") from None
        if last < first or (last - first).days > 120:
            raise InvalidInput("El bloqueo va de una fecha a otra igual o posterior (≤ 120 días).")
        count, booked = records.block_range(
            db,
            doctor_id=_doctor_id(db),
            start=day_start(first),
            end=day_start(last + timedelta(days=1)),
            reason=reason,
        )
        flash(f"{count} horas bloqueadas.", "info")
        for slot in booked:
            when = slot.starts_at.astimezone(SANTIAGO).strftime("%d-%m-%Y %H:%M")
            flash(f"Hora con paciente {slot.patient_rut} el {when}: reagendar.", "error")
        return url_for("workspace.schedule")

    return submitted(work, "Bloqueo registrado.")


def blocked_ranges(slots: list[Slot]) -> list[dict[str, Any]]:
    """Blocked slots read as ranges per day: '07-12-2026 09:00–12:00: Vacaciones'."""
    ranges: list[dict[str, Any]] = []
    for slot in slots:  # in time order
        start = slot.starts_at.astimezone(SANTIAGO)
        end = slot.ends_at.astimezone(SANTIAGO)
        last = ranges[-1] if ranges else None
        if (
            last
            and last["day"] == start.date()
            and last["note"] == slot.note
            and last["end"] == start
        ):
            last["end"] = end
        else:
            ranges.append({"day": start.date(), "start": start, "end": end, "note": slot.note})
    return ranges
