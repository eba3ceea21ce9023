"""The consultation page and what is recorded from it: notes, ICD-10 diagnoses (and their
correction), prescriptions and procedures, vitals and nursing notes, closing. A nurse
records vitals and notes; diagnosing, prescribing and closing are a doctor's, and the
server refuses them to anyone else whatever the page showed."""

from __future__ import annotations

from typing import Any

from flask import render_template, request, url_for
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from medsys.clinical import icd10, records, vitals
from medsys.clinical.extensions import database
from medsys.clinical.models import Consultation, DiagnosisStatus
from medsys.clinical.schemas import (
    ConsultationPatch,
    DiagnosisIn,
    DiagnosisStatusIn,
    ObservationIn,
    StopIn,
    TreatmentIn,
)
from medsys.clinical.web import audit
from medsys.clinical.workspace.common import blueprint, detached, names_of, submitted
from medsys.clinical.workspace.session import caller, staff_page
from medsys.core.errors import InvalidInput
from medsys.core.tokens import Role
from medsys.core.validation import validate

ROUTES = [
    ("oral", "Oral"),
    ("sublingual", "Sublingual"),
    ("inhalatoria", "Inhalatoria"),
    ("intramuscular", "Intramuscular"),
    ("endovenosa", "Endovenosa"),
    ("subcutánea", "Subcutánea"),
    ("tópica", "Tópica"),
    ("oftálmica", "Oftálmica"),
]


def _consultation_page(consultation_id: int) -> str:
    def read(db: Session) -> Consultation:
        found = records.consultation(db, consultation_id=consultation_id)
        audit(db, action="read", resource="consultation", patient_rut=found.patient_rut)
        return detached(db, found)

    found = database().write(read)
    wanted = request.args.get("cie", "").strip()
    return render_template(
        "consultation.html",
        c=found,
        names=names_of([found.patient_rut]),
        icd_query=wanted,
        icd_results=icd10.search(wanted) if wanted else [],
        routes=ROUTES,
        vital_labels=vitals.LABELS,
        closed=found.status in {s.value for s in records.CLOSED},
    )


@blueprint.get("/consultas/<int:consultation_id>")
@staff_page()
def consultation(consultation_id: int) -> str:
    return _consultation_page(consultation_id)


def _on_consultation(
    consultation_id: int, resource: str, done: str, record: Any, action: str = "create"
) -> Response:
    """Record something on a consultation and come back to it, audited like the API."""

    def work(db: Session) -> str:
        record(db)
        rut = records.consultation(db, consultation_id=consultation_id).patient_rut
        audit(db, action=action, resource=resource, patient_rut=rut)
        return url_for("workspace.consultation", consultation_id=consultation_id)

    return submitted(work, done)


def _form(*names: str) -> dict[str, str | None]:
    return {name: (request.form.get(name) or "").strip() or None for name in names}


@blueprint.post("/consultas/<int:consultation_id>/notas")
@staff_page()
def add_note(consultation_id: int) -> Response:
    def record(db: Session) -> None:
        change = validate(ConsultationPatch, {"notes": request.form.get("nota", "").strip()})
        if not change.notes:
            raise InvalidInput("Escriba la nota antes de guardarla.")
        records.update_consultation(
            db, consultation_id=consultation_id, change=change, author=caller().who
        )

    return _on_consultation(consultation_id, "consultation", "Nota agregada.", record, "update")


@blueprint.post("/consultas/<int:consultation_id>/diagnosticos")
@staff_page(Role.DOCTOR)
def add_diagnosis(consultation_id: int) -> Response:
    def record(db: Session) -> None:
        code = request.form.get("codigo", "")
        found = icd10.entry(code)
        description = request.form.get("descripcion", "").strip() or (found.title if found else "")
        data = validate(
            DiagnosisIn,
            {
                "code": code,
                "description": description,
                "rank": request.form.get("rango") or "principal",
            },
        )
        records.add_diagnosis(db, consultation_id=consultation_id, data=data, author=caller().who)

    return _on_consultation(consultation_id, "diagnosis", "Diagnóstico agregado.", record)


@blueprint.post("/diagnosticos/<int:diagnosis_id>/estado")
@staff_page(Role.DOCTOR)
def correct_diagnosis(diagnosis_id: int) -> Response:
    def work(db: Session) -> str:
        data = validate(
            DiagnosisStatusIn,
            {"status": request.form.get("estado", ""), "reason": request.form.get("motivo", "")},
        )
        found = records.set_diagnosis_status(
            db,
            diagnosis_id=diagnosis_id,
            status=DiagnosisStatus(data.status),
            reason=data.reason,
            author=caller().who,
        )
        return _corrected(db, found.consultation_id, "diagnosis")

    return submitted(work, "Diagnóstico corregido; el registro original se conserva.")


def _corrected(db: Session, consultation_id: int, resource: str, back: str = "") -> str:
    """Audit a correction of something recorded on a consultation; where to go next."""
    rut = records.consultation(db, consultation_id=consultation_id).patient_rut
    audit(db, action="update", resource=resource, patient_rut=rut)
    if back.startswith("/clinica/"):
        return back
    return url_for("workspace.consultation", consultation_id=consultation_id)


@blueprint.post("/consultas/<int:consultation_id>/indicaciones")
@staff_page(Role.DOCTOR)
def add_treatment(consultation_id: int) -> Response:
    def record(db: Session) -> None:
        given = _form("tipo", "descripcion", "dosis", "via", "frecuencia", "duracion")
        data = validate(
            TreatmentIn,
            {
                "kind": given["tipo"],
                "description": given["descripcion"],
                "dose": given["dosis"],
                "route": given["via"],
                "frequency": given["frecuencia"],
                "duration": given["duracion"],
            },
        )
        records.add_treatment(db, consultation_id=consultation_id, data=data, author=caller().who)

    return _on_consultation(consultation_id, "treatment", "Indicación agregada.", record)


@blueprint.post("/indicaciones/<int:treatment_id>/suspender")
@staff_page(Role.DOCTOR)
def stop_treatment(treatment_id: int) -> Response:
    def work(db: Session) -> str:
        reason = validate(StopIn, {"reason": request.form.get("motivo", "")}).reason
        found = records.stop_treatment(
            db, treatment_id=treatment_id, reason=reason, author=caller().who
        )
        return _corrected(db, found.consultation_id, "treatment", request.form.get("volver") or "")

    return submitted(work, "Medicamento suspendido.")


@blueprint.post("/consultas/<int:consultation_id>/signos")
@staff_page()
def add_vitals(consultation_id: int) -> Response:
    def record(db: Session) -> None:
        try:
            readings = vitals.readings_from_form(dict(request.form))
        except vitals.VitalsError as error:
            raise InvalidInput(str(error)) from None
        for reading in readings:
            data = ObservationIn(kind=reading.kind, value=reading.value, unit=reading.unit)
            records.add_observation(
                db, consultation_id=consultation_id, data=data, author=caller().who
            )

    return _on_consultation(consultation_id, "observation", "Signos vitales registrados.", record)


@blueprint.post("/consultas/<int:consultation_id>/enfermeria")
@staff_page()
def add_nursing_note(consultation_id: int) -> Response:
    def record(db: Session) -> None:
        text = request.form.get("nota", "").strip()
        data = validate(ObservationIn, {"kind": vitals.NURSING_NOTE, "value": text, "unit": None})
        records.add_observation(db, consultation_id=consultation_id, data=data, author=caller().who)

    return _on_consultation(consultation_id, "observation", "Nota de enfermería agregada.", record)


@blueprint.post("/consultas/<int:consultation_id>/cerrar")
@staff_page(Role.DOCTOR)
def close(consultation_id: int) -> Response:
    def record(db: Session) -> None:
        records.close_consultation(db, consultation_id=consultation_id)

    return _on_consultation(consultation_id, "consultation", "Consulta cerrada.", record, "close")
