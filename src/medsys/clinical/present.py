"""Records as JSON: times in Santiago with their offset, statuses as FHIR words."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from medsys.clinical.models import (
    Allergy,
    Consultation,
    Diagnosis,
    Observation,
    Slot,
    SlotStatus,
    Staff,
    Treatment,
)
from medsys.clinical.records import ConsultationRecord, DoctorCard
from medsys.clinical.visits import status_of
from medsys.core.clock import local_iso


def doctor_json(staff: Staff | DoctorCard) -> dict[str, Any]:
    return {
        "id": staff.id,
        "name": staff.full_name,
        "rut": staff.rut,
        "specialty": staff.specialty,
    }


def slot_json(slot: Slot) -> dict[str, Any]:
    return {
        "id": slot.id,
        "doctor": doctor_json(slot.doctor),
        "starts_at": local_iso(slot.starts_at),
        "ends_at": local_iso(slot.ends_at),
        "status": slot.status,
        "patient_rut": slot.patient_rut,
        "note": slot.note,
    }


def visit_json(slot: Slot, consultation_id: int | None = None) -> dict[str, Any]:
    """A slot on the agenda: the slot, where its patient is, and its consultation."""
    visit = status_of(slot.status == SlotStatus.RESERVED, slot.visit_status)
    return {
        **slot_json(slot),
        "visit_status": visit.value if visit else None,
        "checked_in_at": local_iso(slot.checked_in_at),
        "consultation_id": consultation_id,
    }


def allergy_json(allergy: Allergy) -> dict[str, Any]:
    return {
        "id": allergy.id,
        "patient_rut": allergy.patient_rut,
        "substance": allergy.substance,
        "reaction": allergy.reaction,
        "status": allergy.status,
        "recorded_by": allergy.recorded_by,
        "recorded_at": local_iso(allergy.recorded_at),
    }


def diagnosis_json(diagnosis: Diagnosis | Row[Any]) -> dict[str, Any]:
    return {
        "id": diagnosis.id,
        "code": diagnosis.code,
        "description": diagnosis.description,
        "rank": diagnosis.rank,
        "status": diagnosis.status,
        "recorded_by": diagnosis.recorded_by,
        "recorded_at": local_iso(diagnosis.recorded_at),
        "status_reason": diagnosis.status_reason,
        "status_changed_by": diagnosis.status_changed_by,
        "status_changed_at": local_iso(diagnosis.status_changed_at),
    }


def treatment_json(treatment: Treatment | Row[Any]) -> dict[str, Any]:
    return {
        "id": treatment.id,
        "kind": treatment.kind,
        "description": treatment.description,
        "dose": treatment.dose,
        "route": treatment.route,
        "frequency": treatment.frequency,
        "duration": treatment.duration,
        "status": treatment.status,
        "prescribed_by": treatment.prescribed_by,
        "prescribed_at": local_iso(treatment.prescribed_at),
        "stopped_by": treatment.stopped_by,
        "stopped_at": local_iso(treatment.stopped_at),
        "stop_reason": treatment.stop_reason,
    }


def observation_json(observation: Observation | Row[Any]) -> dict[str, Any]:
    return {
        "id": observation.id,
        "kind": observation.kind,
        "value": observation.value,
        "unit": observation.unit,
        "recorded_by": observation.recorded_by,
        "recorded_at": local_iso(observation.recorded_at),
    }


def consultation_json(consultation: Consultation | ConsultationRecord) -> dict[str, Any]:
    """The same answer for the ORM object and for the history's Core-read record."""
    return {
        "id": consultation.id,
        "patient_rut": consultation.patient_rut,
        "doctor": doctor_json(consultation.doctor),
        "starts_at": local_iso(consultation.starts_at),
        "reason": consultation.reason,
        "notes": consultation.notes,
        "status": consultation.status,
        "slot_id": consultation.slot_id,
        "diagnoses": [diagnosis_json(d) for d in consultation.diagnoses],
        "treatments": [treatment_json(t) for t in consultation.treatments],
        "observations": [observation_json(o) for o in consultation.observations],
        "updated_at": local_iso(consultation.updated_at),
    }
