"""Prescriptions and medical certificates: issued once (a row with the content frozen and a
verification code), then shown as a print-ready page (the browser prints it or saves it as
PDF). Print-ready HTML rather than a PDF library: the page already is the document, and
Chromium's own PDF output is what a clinic prints with; no extra dependency to keep up.
Anyone holding the paper can check the code at /clinica/verificar (no login, no patient
data shown: only what was issued, by whom and when)."""

from __future__ import annotations

import json
from typing import Any

from flask import abort, render_template, request, url_for
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from medsys.clinical import records
from medsys.clinical.extensions import database
from medsys.clinical.models import Document, Staff, TreatmentStatus
from medsys.clinical.web import audit
from medsys.clinical.workspace.common import blueprint, detached, names_of, submitted
from medsys.clinical.workspace.session import caller, staff_page
from medsys.core.clock import SANTIAGO
from medsys.core.errors import Forbidden, InvalidInput, MedsysError
from medsys.core.tokens import Role

KINDS = {"receta": "Receta médica", "certificado": "Certificado médico"}


def _body(db: Session, consultation_id: int, kind: str) -> dict[str, Any]:
    found = records.consultation(db, consultation_id=consultation_id)
    if found.doctor.username != caller().who:
        raise Forbidden("Solo el médico de la consulta emite sus documentos.")
    doctor: Staff = found.doctor
    body: dict[str, Any] = {
        "doctor": doctor.full_name,
        "doctor_rut": doctor.rut,
        "specialty": doctor.specialty,
        "date": found.starts_at.astimezone(SANTIAGO).date().isoformat(),
    }
    if kind == "receta":
        medications = [
            {
                "description": t.description,
                "dose": t.dose,
                "route": t.route,
                "frequency": t.frequency,
                "duration": t.duration,
            }
            for t in found.treatments
            if t.kind == "medication" and t.status == TreatmentStatus.ACTIVE
        ]
        if not medications:
            raise InvalidInput("La consulta no tiene medicamentos activos que recetar.")
        body["medications"] = medications
    else:
        days = request.form.get("dias", "").strip()
        if not days.isdigit() or not 0 <= int(days) <= 90:
            raise InvalidInput("Días de reposo: un número de 0 a 90.")
        body["rest_days"] = int(days)
        body["diagnoses"] = [
            f"{d.code} {d.description}" for d in found.diagnoses if d.status == "confirmed"
        ]
        body["remarks"] = request.form.get("indicaciones", "").strip()[:500]
    return body


@blueprint.post("/consultas/<int:consultation_id>/documentos/<kind>")
@staff_page(Role.DOCTOR)
def issue(consultation_id: int, kind: str) -> Response:
    if kind not in KINDS:
        abort(404)

    def work(db: Session) -> str:
        body = _body(db, consultation_id, kind)
        issued = records.issue_document(
            db, consultation_id=consultation_id, kind=kind, body=body, author=caller().who
        )
        audit(db, action="create", resource=f"document-{kind}", patient_rut=issued.patient_rut)
        return url_for("workspace.document", code=issued.code)

    return submitted(work, f"{KINDS[kind]} emitida.")


@blueprint.get("/documentos/<code>")
@staff_page()
def document(code: str) -> str:
    def read(db: Session) -> Document:
        found = records.document(db, code=code)
        audit(db, action="read", resource=f"document-{found.kind}", patient_rut=found.patient_rut)
        return detached(db, found)

    found = database().write(read)
    return render_template(
        "document.html",
        doc=found,
        body=json.loads(found.body),
        title=KINDS.get(found.kind, found.kind),
        names=names_of([found.patient_rut]),
        verify_url=request.host_url.rstrip("/") + url_for("workspace.verify"),
    )


@blueprint.get("/verificar")
def verify() -> tuple[str, int] | str:
    code = request.args.get("codigo", "").strip()
    if not code:
        return render_template("verify.html", code="", found=None)
    try:
        found = database().read(lambda db: records.document(db, code=code))
    except MedsysError:
        return render_template("verify.html", code=code, found=None), 404
    return render_template(
        "verify.html",
        code=code,
        found=found,
        body=json.loads(found.body),
        title=KINDS.get(found.kind, found.kind),
    )
