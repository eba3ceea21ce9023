"""Pure mappings from the apps' records to what a patient reads: plain Spanish words,
local dates, nothing entered in error, and an honest note of what could not be fetched."""

from __future__ import annotations

from typing import Any

from medsys.core import vital_signs
from medsys.core.clock import date_text

STATUS = {
    "planned": "Agendada",
    "in-progress": "En curso",
    "finished": "Finalizada",
    "cancelled": "Cancelada",
}
ROUTES = {"oral": "vía oral", "inhalatoria": "vía inhalatoria", "iv": "vía intravenosa"}


def treatment_text(treatment: dict[str, Any]) -> str:
    parts = [treatment["description"]]
    if treatment.get("dose"):
        parts[0] += f" {treatment['dose']}"
    if treatment.get("route"):
        parts.append(ROUTES.get(treatment["route"], f"vía {treatment['route']}"))
    if treatment.get("frequency"):
        parts.append(treatment["frequency"])
    duration = treatment.get("duration")
    if duration:
        parts.append(f"durante {duration}" if duration[0].isdigit() else f"uso {duration}")
    return ", ".join(parts)


def consultation_view(consultation: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": consultation["id"],
        "date": consultation["starts_at"],
        "date_text": date_text(consultation["starts_at"]),
        "doctor": consultation["doctor"]["name"],
        "specialty": consultation["doctor"].get("specialty"),
        "reason": consultation["reason"],
        "status": STATUS.get(consultation["status"], consultation["status"]),
        "diagnoses": [
            {"text": d["description"], "code": d["code"], "main": d["rank"] == "principal"}
            for d in consultation.get("diagnoses", [])
            if d.get("status", "confirmed") == "confirmed"  # not refuted, not a mistake
        ],
        "treatments": [
            {
                "text": treatment_text(t),
                "kind": "Medicamento" if t["kind"] == "medication" else "Procedimiento",
            }
            for t in consultation.get("treatments", [])
            if t.get("status") != "entered-in-error"
        ],
        "vitals": [
            f"{vital_signs.LABELS[o['kind']]}: {o['value']} {o.get('unit') or ''}".strip()
            for o in consultation.get("observations", [])
            if o.get("kind") in vital_signs.VITAL_KINDS
        ],
    }


def patient_view(summary: dict[str, Any] | None) -> dict[str, Any] | None:
    if summary is None:
        return None
    patient = summary.get("patient", summary)
    coverage = summary.get("coverage") or {}
    return {
        "rut": patient["rut"],
        "name": patient.get("nombre"),
        "email": patient.get("email"),
        "phone": patient.get("telefono"),
        "coverage": coverage.get("description"),
    }


def medical_history(
    rut: str, clinical: dict[str, Any], admin: dict[str, Any] | None, missing: list[str]
) -> dict[str, Any]:
    """The seed's /api/medical-history shape: consultations newest first, joined with
    demographics; ``partial`` says plainly when a part could not be fetched."""
    consultations = [
        consultation_view(c)
        for c in clinical.get("consultations", [])
        if c.get("status") != "entered-in-error"
    ]
    return {
        "rut": rut,
        "patient": patient_view(admin),
        "consultations": consultations,
        "total": clinical.get("total", len(consultations)),
        "page": clinical.get("page", 1),
        "partial": bool(missing),
        "missing": missing,
    }
