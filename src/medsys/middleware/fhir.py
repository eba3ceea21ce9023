"""FHIR R4 export of a patient's record: a Bundle with Patient, Encounter, Condition,
MedicationRequest, Procedure, Observation (vital signs, LOINC-coded) and Invoice
resources. Pure: records in, a dict out.

Resource ids are UUIDv5 of our own record ids, so the same record always gets the same
id and references inside the bundle are ``urn:uuid:`` full URLs.
"""

from __future__ import annotations

import uuid
from typing import Any

from medsys.core import vital_signs

NAMESPACE = uuid.UUID("7b1f2f1e-5a9e-4c55-9a53-6d0b8f1c2e01")
RUN_SYSTEM = "http://www.registrocivil.cl/run"
ICD10_SYSTEM = "http://hl7.org/fhir/sid/icd-10"
ENCOUNTER_STATUS = {
    "planned": "planned",
    "in-progress": "in-progress",
    "finished": "finished",
    "cancelled": "cancelled",
    "entered-in-error": "entered-in-error",
}
MEDICATION_STATUS = {
    "active": "active",
    "stopped": "stopped",
    "completed": "completed",
    "cancelled": "cancelled",
    "entered-in-error": "entered-in-error",
}
PROCEDURE_STATUS = {
    "active": "in-progress",
    "completed": "completed",
    "cancelled": "not-done",
    "entered-in-error": "entered-in-error",
}


def _urn(kind: str, key: object) -> str:
    return f"urn:uuid:{uuid.uuid5(NAMESPACE, f'{kind}/{key}')}"


def _entry(full_url: str, resource: dict[str, Any]) -> dict[str, Any]:
    resource["id"] = full_url.removeprefix("urn:uuid:")
    return {"fullUrl": full_url, "resource": resource, "search": {"mode": "match"}}


def patient_resource(rut: str, admin: dict[str, Any] | None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": [{"system": RUN_SYSTEM, "value": rut}],
    }
    if admin:
        person = admin.get("patient", admin)
        if person.get("nombre"):
            resource["name"] = [{"text": person["nombre"]}]
        telecom = []
        if person.get("telefono"):
            telecom.append({"system": "phone", "value": person["telefono"]})
        if person.get("email"):
            telecom.append({"system": "email", "value": person["email"]})
        if telecom:
            resource["telecom"] = telecom
        if person.get("sexo") in GENDER:
            resource["gender"] = GENDER[person["sexo"]]
        if person.get("fecha_nacimiento"):
            resource["birthDate"] = person["fecha_nacimiento"]
    return resource


def _encounter(c: dict[str, Any], patient_ref: str) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "status": ENCOUNTER_STATUS.get(c["status"], "unknown"),
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": "AMB",
            "display": "ambulatory",
        },
        "subject": {"reference": patient_ref},
        "participant": [{"individual": {"display": c["doctor"]["name"]}}],
        "period": {"start": c["starts_at"]},
        "reasonCode": [{"text": c["reason"]}],
    }


def _condition(d: dict[str, Any], patient_ref: str, encounter_ref: str) -> dict[str, Any]:
    verification = d.get("status") if d.get("status") in ("refuted", "entered-in-error") else None
    return {
        "resourceType": "Condition",
        "verificationStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                    "code": verification or "confirmed",
                }
            ]
        },
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                        "code": "encounter-diagnosis",
                    }
                ]
            }
        ],
        "code": {
            "coding": [{"system": ICD10_SYSTEM, "code": d["code"], "display": d["description"]}],
            "text": d["description"],
        },
        "subject": {"reference": patient_ref},
        "encounter": {"reference": encounter_ref},
        "recordedDate": d.get("recorded_at"),
    }


def _treatment(t: dict[str, Any], patient_ref: str, encounter_ref: str) -> dict[str, Any]:
    if t["kind"] == "medication":
        dosage = ", ".join(
            str(t[key]) for key in ("dose", "route", "frequency", "duration") if t.get(key)
        )
        return {
            "resourceType": "MedicationRequest",
            "status": MEDICATION_STATUS.get(t.get("status", "active"), "unknown"),
            "intent": "order",
            "medicationCodeableConcept": {"text": t["description"]},
            "subject": {"reference": patient_ref},
            "encounter": {"reference": encounter_ref},
            "authoredOn": t.get("prescribed_at"),
            "dosageInstruction": [{"text": dosage}] if dosage else [],
        }
    return {
        "resourceType": "Procedure",
        "status": PROCEDURE_STATUS.get(t.get("status", "completed"), "unknown"),
        "code": {"text": t["description"]},
        "subject": {"reference": patient_ref},
        "encounter": {"reference": encounter_ref},
    }


# Admin's words for sex, as FHIR's administrative gender.
GENDER = {"femenino": "female", "masculino": "male", "otro": "other", "no informado": "unknown"}
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
# Our vital-sign kinds (medsys.clinical.vitals) as LOINC codes with their UCUM units.
VITAL_SIGNS = {
    vital_signs.WEIGHT: ("29463-7", "Body weight", "kg", "kg"),
    vital_signs.TEMPERATURE: ("8310-5", "Body temperature", "Cel", "°C"),
    vital_signs.HEART_RATE: ("8867-4", "Heart rate", "/min", "/min"),
}
BLOOD_PRESSURE = ("85354-9", "Blood pressure panel with all children optional")
SYSTOLIC = ("8480-6", "Systolic blood pressure")
DIASTOLIC = ("8462-4", "Diastolic blood pressure")


def _quantity(value: float, unit: str, code: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": code}


def _loinc(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display}


def _observation(o: dict[str, Any], patient_ref: str, encounter_ref: str) -> dict[str, Any] | None:
    """A vital sign as a FHIR vital-signs Observation; None for what is not one (nursing
    notes, older free-text values)."""
    base: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "subject": {"reference": patient_ref},
        "encounter": {"reference": encounter_ref},
        "effectiveDateTime": o.get("recorded_at"),
    }
    try:
        if o["kind"] == vital_signs.BLOOD_PRESSURE:
            high, low = (float(part) for part in str(o["value"]).split("/"))
            return {
                **base,
                "code": _loinc(*BLOOD_PRESSURE),
                "component": [
                    {"code": _loinc(*SYSTOLIC), "valueQuantity": _quantity(high, "mmHg", "mm[Hg]")},
                    {"code": _loinc(*DIASTOLIC), "valueQuantity": _quantity(low, "mmHg", "mm[Hg]")},
                ],
            }
        if o["kind"] in VITAL_SIGNS:
            code, display, ucum, unit = VITAL_SIGNS[o["kind"]]
            value = float(str(o["value"]).replace(",", "."))
            return {
                **base,
                "code": _loinc(code, display),
                "valueQuantity": _quantity(value, unit, ucum),
            }
    except ValueError:
        return None
    return None


def _invoice(i: dict[str, Any], patient_ref: str) -> dict[str, Any]:
    status = {"void": "cancelled", "paid": "balanced"}.get(i["status"], "issued")
    return {
        "resourceType": "Invoice",
        "identifier": [{"value": i["number"]}],
        "status": status,
        "subject": {"reference": patient_ref},
        "date": i["issued_at"],
        "lineItem": [
            {
                "sequence": n,
                "chargeItemCodeableConcept": {"text": line["description"]},
                "priceComponent": [
                    {"type": "base", "amount": {"value": line["amount"], "currency": "CLP"}}
                ],
            }
            for n, line in enumerate(i.get("lines", []), start=1)
        ],
        "totalGross": {"value": i["total"], "currency": "CLP"},
        "totalNet": {"value": i["copay"], "currency": "CLP"},
    }


def everything(rut: str, clinical: dict[str, Any], admin: dict[str, Any] | None) -> dict[str, Any]:
    patient_ref = _urn("patient", rut)
    entries = [_entry(patient_ref, patient_resource(rut, admin))]
    for c in clinical.get("consultations", []):
        encounter_ref = _urn("encounter", c["id"])
        entries.append(_entry(encounter_ref, _encounter(c, patient_ref)))
        for d in c.get("diagnoses", []):
            entries.append(
                _entry(_urn("condition", d["id"]), _condition(d, patient_ref, encounter_ref))
            )
        for t in c.get("treatments", []):
            entries.append(
                _entry(_urn("treatment", t["id"]), _treatment(t, patient_ref, encounter_ref))
            )
        for o in c.get("observations", []):
            vital = _observation(o, patient_ref, encounter_ref)
            if vital is not None:
                entries.append(_entry(_urn("observation", o["id"]), vital))
    for i in (admin or {}).get("invoices", []):
        entries.append(_entry(_urn("invoice", i["number"]), _invoice(i, patient_ref)))
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(entries),
        "entry": entries,
    }


def incomplete_outcome(missing: list[str]) -> dict[str, Any]:
    """An OperationOutcome entry saying which parts could not be fetched."""
    return {
        "fullUrl": _urn("outcome", "|".join(missing)),
        "resource": {
            "resourceType": "OperationOutcome",
            "id": str(uuid.uuid5(NAMESPACE, "outcome/" + "|".join(missing))),
            "issue": [
                {
                    "severity": "warning",
                    "code": "incomplete",
                    "diagnostics": f"no disponible: {part}",
                }
                for part in missing
            ],
        },
        "search": {"mode": "outcome"},
    }
