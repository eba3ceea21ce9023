"""The original system's routes, kept working on top of the richer API (with a token).

- ``GET/POST /consultas/``: list recent consultations / create one from
  ``{"paciente_rut", "medico_id" or "medico_rut", "fecha", "motivo", "notas"}``
- ``GET /consultas/paciente/<rut>``: a patient's consultations
- ``GET /medicos/``: doctors
- ``POST /medicos/disponibilidad``: ``{"medico_id", "dia_semana" (0 = lunes),
  "hora_inicio", "hora_fin", "duracion_minutos", "semanas"}``
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from sqlalchemy.orm import Session

from medsys.clinical import records
from medsys.clinical.extensions import database
from medsys.clinical.present import consultation_json, doctor_json
from medsys.clinical.schemas import ConsultationIn, ScheduleIn
from medsys.clinical.views import consultations
from medsys.clinical.web import audit, audit_each, current_caller, requires
from medsys.core.errors import Forbidden, InvalidInput, MalformedRequest
from medsys.core.request_parts import rut_of
from medsys.core.tokens import Role
from medsys.core.validation import validate

blueprint = Blueprint("legacy", __name__)
STAFF = (Role.DOCTOR, Role.NURSE)


def _json() -> dict[str, Any]:
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        raise MalformedRequest("El cuerpo debe ser un objeto JSON.")
    return payload


@blueprint.get("/consultas/")
@requires(*STAFF)
def list_consultations() -> dict[str, Any]:
    def work(session: Session) -> list[dict[str, Any]]:
        found = records.recent_consultations(session)
        ruts = sorted({c.patient_rut for c in found})
        audit_each(session, action="read", resource="consultation-list", patient_ruts=ruts)
        return [consultation_json(c) for c in found]

    return {"consultas": database().write(work)}


@blueprint.post("/consultas/")
@requires(*STAFF)
def create_consultation() -> tuple[dict[str, Any], int]:
    payload = _json()

    def work(session: Session) -> dict[str, Any]:
        doctor_id = payload.get("medico_id")
        if doctor_id is None and "medico_rut" in payload:
            doctor_id = records.doctor_by_rut(session, rut=rut_of(str(payload["medico_rut"]))).id
        data = validate(
            ConsultationIn,
            {
                "patient_rut": payload.get("paciente_rut"),
                "doctor_id": doctor_id,
                "starts_at": payload.get("fecha"),
                "reason": payload.get("motivo"),
                "notes": payload.get("notas", ""),
            },
        )
        created = records.create_consultation(session, data=data, author=current_caller().who)
        audit(session, action="create", resource="consultation", patient_rut=data.patient_rut)
        session.refresh(created)
        return consultation_json(created)

    return database().write(work), 201


@blueprint.get("/consultas/paciente/<rut>")
@requires(*STAFF, Role.PATIENT)
def patient_consultations(rut: str) -> dict[str, Any]:
    result = consultations.history_page(rut)
    return {"paciente_rut": result["patient_rut"], "consultas": result["consultations"]}


@blueprint.get("/medicos/")
@requires(*STAFF, Role.CLERK, Role.ACCOUNTANT, Role.PATIENT)
def list_doctors() -> dict[str, Any]:
    found = database().read(
        lambda s: records.doctors(s, specialty=request.args.get("especialidad"))
    )
    return {"medicos": [doctor_json(d) for d in found]}


@blueprint.post("/medicos/disponibilidad")
@requires(Role.DOCTOR)
def add_availability() -> tuple[dict[str, Any], int]:
    payload = _json()
    rule = validate(
        ScheduleIn,
        {
            "weekday": payload.get("dia_semana"),
            "start": payload.get("hora_inicio"),
            "end": payload.get("hora_fin"),
            "slot_minutes": payload.get("duracion_minutos", 30),
            "weeks": payload.get("semanas", 4),
        },
    )
    doctor_id = payload.get("medico_id")
    if not isinstance(doctor_id, int):
        raise InvalidInput("'medico_id' debe ser el número de id del médico.")
    caller = current_caller()

    def work(session: Session) -> int:
        if records.doctor(session, doctor_id=doctor_id).username != caller.who:
            raise Forbidden("Un médico solo puede definir su propio horario.")
        return len(records.add_schedule(session, doctor_id=doctor_id, rule=rule))

    return {"bloques_creados": database().write(work)}, 201
