"""The JSON side of what the workspace pages do: the agenda and its visits, corrections
of diagnoses and medications, allergies, and the ICD-10 catalogue. Same records layer,
same audit rows as the pages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from medsys.clinical import icd10, records
from medsys.clinical.extensions import database
from medsys.clinical.models import Consultation, DiagnosisStatus
from medsys.clinical.present import (
    allergy_json,
    consultation_json,
    diagnosis_json,
    treatment_json,
    visit_json,
)
from medsys.clinical.schemas import AllergyIn, DiagnosisStatusIn, StopIn, VisitStartIn
from medsys.clinical.visits import VisitEvent
from medsys.clinical.web import (
    audit,
    audit_each,
    body,
    current_caller,
    int_arg,
    may_reach_patient,
    requires,
)
from medsys.core.clock import local_iso, parse_instant, utc_now
from medsys.core.errors import Forbidden, InvalidInput
from medsys.core.request_parts import rut_of
from medsys.core.tokens import Role

blueprint = Blueprint("workspace_api", __name__, url_prefix="/api")
STAFF = (Role.DOCTOR, Role.NURSE)


@blueprint.get("/agenda")
@requires(*STAFF)
def agenda() -> dict[str, Any]:
    """Booked and blocked slots from `from` (default now) to `to` (default a day later),
    of one doctor (`doctor_id`) or all; each with its visit status and consultation."""
    start = parse_instant(request.args["from"], "from") if "from" in request.args else utc_now()
    end = parse_instant(request.args["to"], "to") if "to" in request.args else start + timedelta(1)
    if end <= start or end - start > timedelta(days=31):
        raise InvalidInput("El rango 'from'-'to' debe ser positivo y de a lo más 31 días.")
    doctor_id = int_arg("doctor_id", 0, low=0, high=2**31) or None

    def read(session: Session) -> list[dict[str, Any]]:
        slots = records.agenda(session, doctor_id=doctor_id, start=start, end=end)
        linked = session.scalars(
            select(Consultation).where(Consultation.slot_id.in_([s.id for s in slots]))
        )
        consultation_of = {c.slot_id: c.id for c in linked}
        return [visit_json(slot, consultation_of.get(slot.id)) for slot in slots]

    return {"visits": database().read(read)}


def _visit(slot_id: int, event: VisitEvent) -> dict[str, Any]:
    def work(session: Session) -> dict[str, Any]:
        found = records.record_visit(session, slot_id=slot_id, event=event)
        audit(session, action="update", resource="visit", patient_rut=found.patient_rut)
        return visit_json(found)

    return database().write(work)


@blueprint.post("/slots/<int:slot_id>/check-in")
@requires(*STAFF)
def check_in(slot_id: int) -> dict[str, Any]:
    return _visit(slot_id, VisitEvent.CHECK_IN)


@blueprint.post("/slots/<int:slot_id>/no-show")
@requires(*STAFF)
def no_show(slot_id: int) -> dict[str, Any]:
    return _visit(slot_id, VisitEvent.NO_SHOW)


@blueprint.post("/slots/<int:slot_id>/consultation")
@requires(Role.DOCTOR)
def start(slot_id: int) -> tuple[dict[str, Any], int]:
    """Start the consultation of a booked slot (its own doctor only); once per slot."""
    reason = body(VisitStartIn).reason
    who = current_caller().who

    def work(session: Session) -> dict[str, Any]:
        if records.slot(session, slot_id=slot_id).doctor.username != who:
            raise Forbidden("Solo el médico de la hora puede iniciar su consulta.")
        started = records.start_visit(session, slot_id=slot_id, author=who, reason=reason)
        audit(session, action="create", resource="consultation", patient_rut=started.patient_rut)
        session.refresh(started)
        return consultation_json(started)

    return database().write(work), 201


@blueprint.post("/diagnoses/<int:diagnosis_id>/status")
@requires(Role.DOCTOR)
def correct_diagnosis(diagnosis_id: int) -> dict[str, Any]:
    """Mark a diagnosis refuted or entered-in-error, with a reason; it is never deleted."""
    data = body(DiagnosisStatusIn)
    who = current_caller().who

    def work(session: Session) -> dict[str, Any]:
        found = records.set_diagnosis_status(
            session,
            diagnosis_id=diagnosis_id,
            status=DiagnosisStatus(data.status),
            reason=data.reason,
            author=who,
        )
        rut = records.consultation(session, consultation_id=found.consultation_id).patient_rut
        audit(session, action="update", resource="diagnosis", patient_rut=rut)
        return diagnosis_json(found)

    return database().write(work)


@blueprint.post("/treatments/<int:treatment_id>/stop")
@requires(Role.DOCTOR)
def stop_treatment(treatment_id: int) -> dict[str, Any]:
    reason = body(StopIn).reason
    who = current_caller().who

    def work(session: Session) -> dict[str, Any]:
        found = records.stop_treatment(
            session, treatment_id=treatment_id, reason=reason, author=who
        )
        rut = records.consultation(session, consultation_id=found.consultation_id).patient_rut
        audit(session, action="update", resource="treatment", patient_rut=rut)
        return treatment_json(found)

    return database().write(work)


@blueprint.get("/patients/<rut>/allergies")
@requires(*STAFF, Role.PATIENT)
def allergies(rut: str) -> dict[str, Any]:
    patient = rut_of(rut)
    may_reach_patient(patient)

    def work(session: Session) -> list[dict[str, Any]]:
        audit(session, action="read", resource="allergy", patient_rut=patient)
        return [allergy_json(a) for a in records.allergies(session, rut=patient)]

    return {"patient_rut": patient, "allergies": database().write(work)}


@blueprint.post("/patients/<rut>/allergies")
@requires(*STAFF)
def add_allergy(rut: str) -> tuple[dict[str, Any], int]:
    patient = rut_of(rut)
    data = body(AllergyIn)
    who = current_caller().who

    def work(session: Session) -> dict[str, Any]:
        added = records.add_allergy(session, rut=patient, data=data, author=who)
        audit(session, action="create", resource="allergy", patient_rut=patient)
        return allergy_json(added)

    return database().write(work), 201


@blueprint.get("/icd10")
@requires(*STAFF)
def icd10_search() -> dict[str, Any]:
    """The WHO ICD-10 (2019) codes matching `q` (a code or words; English titles)."""
    wanted = request.args.get("q", "").strip()
    if len(wanted) < 1 or len(wanted) > 80:
        raise InvalidInput("'q' debe tener de 1 a 80 caracteres.")
    limit = int_arg("limit", 20, low=1, high=100)
    return {
        "catalogue": "OMS CIE-10 2019 (títulos en inglés)",
        "results": [{"code": e.code, "title": e.title} for e in icd10.search(wanted, limit)],
    }


@blueprint.get("/billable")
@requires(Role.ACCOUNTANT)
def billable() -> dict[str, Any]:
    """Finished consultations in the order they were closed, after the cursor
    (`closed_since`, an ISO instant, and `after`, the id among those closed at that
    instant), with what billing needs and nothing more (no notes, no diagnoses): for
    admin's charge capture, relayed for an accountant. No cursor: from the first."""
    given = request.args.get("closed_since")
    since = parse_instant(given, "closed_since") if given is not None else None
    after = int_arg("after", 0, low=0, high=2**31)
    limit = int_arg("limit", 100, low=1, high=500)

    def read(session: Session) -> list[dict[str, Any]]:
        found = records.closed_since(session, since=since, after=after, limit=limit)
        ruts = [consultation.patient_rut for consultation in found]  # a row per consultation
        audit_each(session, action="read", resource="billing", patient_ruts=ruts)
        return [
            {
                "consultation_id": c.id,
                "patient_rut": c.patient_rut,
                "starts_at": local_iso(c.starts_at),
                "closed_at": c.closed_at.isoformat() if c.closed_at else None,
                "specialty": c.doctor.specialty or "Medicina General",
                "procedures": [
                    t.description
                    for t in c.treatments
                    if t.kind == "procedure" and t.status != "entered-in-error"
                ],
            }
            for c in found
        ]

    return {"consultations": database().write(read)}
