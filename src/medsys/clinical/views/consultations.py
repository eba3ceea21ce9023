"""Consultations and what is recorded on them; a patient's history (read by the
middleware). Every read of a clinical record is audited in the same transaction."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from sqlalchemy.orm import Session

from medsys.clinical import records
from medsys.clinical.extensions import database
from medsys.clinical.present import (
    consultation_json,
    diagnosis_json,
    observation_json,
    treatment_json,
)
from medsys.clinical.schemas import (
    ConsultationIn,
    ConsultationPatch,
    DiagnosisIn,
    ObservationIn,
    TreatmentIn,
)
from medsys.clinical.web import (
    audit,
    body,
    current_caller,
    int_arg,
    may_reach_patient,
    requires,
)
from medsys.core.audit import access_log as read_access_log
from medsys.core.request_parts import rut_of
from medsys.core.tokens import Role

blueprint = Blueprint("consultations", __name__, url_prefix="/api")
STAFF = (Role.DOCTOR, Role.NURSE)


@blueprint.post("/consultations")
@requires(*STAFF)
def create() -> tuple[dict[str, Any], int]:
    data = body(ConsultationIn)
    author = current_caller().who

    def work(session: Session) -> dict[str, Any]:
        created = records.create_consultation(session, data=data, author=author)
        audit(session, action="create", resource="consultation", patient_rut=data.patient_rut)
        session.refresh(created)
        return consultation_json(created)

    return database().write(work), 201


@blueprint.get("/consultations/<int:consultation_id>")
@requires(*STAFF, Role.PATIENT)
def read(consultation_id: int) -> dict[str, Any]:
    def work(session: Session) -> dict[str, Any]:
        found = records.consultation(session, consultation_id=consultation_id)
        may_reach_patient(found.patient_rut)
        audit(session, action="read", resource="consultation", patient_rut=found.patient_rut)
        return consultation_json(found)

    return database().write(work)


@blueprint.patch("/consultations/<int:consultation_id>")
@requires(*STAFF)
def update(consultation_id: int) -> dict[str, Any]:
    change = body(ConsultationPatch)
    author = current_caller().who

    def work(session: Session) -> dict[str, Any]:
        found = records.update_consultation(
            session, consultation_id=consultation_id, change=change, author=author
        )
        audit(session, action="update", resource="consultation", patient_rut=found.patient_rut)
        return consultation_json(found)

    return database().write(work)


@blueprint.post("/consultations/<int:consultation_id>/close")
@requires(Role.DOCTOR)
def close(consultation_id: int) -> dict[str, Any]:
    def work(session: Session) -> dict[str, Any]:
        found = records.close_consultation(session, consultation_id=consultation_id)
        audit(session, action="close", resource="consultation", patient_rut=found.patient_rut)
        return consultation_json(found)

    return database().write(work)


def _record(consultation_id: int, resource: str, add: Any) -> tuple[dict[str, Any], int]:
    author = current_caller().who

    def work(session: Session) -> dict[str, Any]:
        result: dict[str, Any] = add(session, author)
        rut = records.consultation(session, consultation_id=consultation_id).patient_rut
        audit(session, action="create", resource=resource, patient_rut=rut)
        return result

    return database().write(work), 201


@blueprint.post("/consultations/<int:consultation_id>/diagnoses")
@requires(Role.DOCTOR)
def add_diagnosis(consultation_id: int) -> tuple[dict[str, Any], int]:
    data = body(DiagnosisIn)
    return _record(
        consultation_id,
        "diagnosis",
        lambda s, who: diagnosis_json(
            records.add_diagnosis(s, consultation_id=consultation_id, data=data, author=who)
        ),
    )


@blueprint.post("/consultations/<int:consultation_id>/treatments")
@requires(Role.DOCTOR)
def add_treatment(consultation_id: int) -> tuple[dict[str, Any], int]:
    data = body(TreatmentIn)
    return _record(
        consultation_id,
        "treatment",
        lambda s, who: treatment_json(
            records.add_treatment(s, consultation_id=consultation_id, data=data, author=who)
        ),
    )


@blueprint.post("/consultations/<int:consultation_id>/observations")
@requires(*STAFF)
def add_observation(consultation_id: int) -> tuple[dict[str, Any], int]:
    data = body(ObservationIn)
    return _record(
        consultation_id,
        "observation",
        lambda s, who: observation_json(
            records.add_observation(s, consultation_id=consultation_id, data=data, author=who)
        ),
    )


@blueprint.get("/patients/<rut>/access-log")
@requires(Role.PATIENT)
def access_log(rut: str) -> dict[str, Any]:
    patient = rut_of(rut)
    may_reach_patient(patient)
    return {
        "patient_rut": patient,
        "entries": database().read(lambda s: read_access_log(s, patient_rut=patient)),
    }


@blueprint.get("/patients/<rut>/history")
@requires(*STAFF, Role.PATIENT)
def history(rut: str) -> dict[str, Any]:
    return history_page(rut)


def history_page(rut: str) -> dict[str, Any]:
    """The audited history read, for any view whose caller was already authorised."""
    patient = rut_of(rut)
    may_reach_patient(patient)
    page = int_arg("page", 1, low=1, high=10_000)
    per_page = int_arg("per_page", 20, low=1, high=100)

    def logged(session: Session) -> None:
        audit(session, action="read", resource="clinical-history", patient_rut=patient)

    def work(session: Session) -> dict[str, Any]:
        found, total = records.history(session, rut=patient, page=page, per_page=per_page)
        return {
            "patient_rut": patient,
            "page": page,
            "per_page": per_page,
            "total": total,
            "consultations": [consultation_json(c) for c in found],
        }

    return database().audited_read(logged, work)
