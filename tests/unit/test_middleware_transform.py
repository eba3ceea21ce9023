"""The patient-facing history and the FHIR export, from records shaped like the apps'."""

from typing import Any

from fhir.resources.R4B.bundle import Bundle

from medsys.middleware import fhir, transform

CLINICAL: dict[str, Any] = {
    "patient_rut": "11111111-1",
    "total": 2,
    "page": 1,
    "consultations": [
        {
            "id": 7,
            "starts_at": "2026-03-15T10:00:00-03:00",
            "reason": "Fiebre",
            "status": "finished",
            "doctor": {"id": 1, "name": "Dra. Carolina Soto", "specialty": "Medicina General"},
            "diagnoses": [
                {
                    "id": 1,
                    "code": "J02.9",
                    "description": "Faringitis aguda",
                    "rank": "principal",
                    "status": "confirmed",
                    "recorded_at": "2026-03-15T10:20:00-03:00",
                },
                {
                    "id": 2,
                    "code": "J06.9",
                    "description": "Error",
                    "rank": "secondary",
                    "status": "entered-in-error",
                    "recorded_at": "2026-03-15T10:21:00-03:00",
                },
            ],
            "treatments": [
                {
                    "id": 3,
                    "kind": "medication",
                    "description": "Paracetamol",
                    "dose": "500 mg",
                    "route": "oral",
                    "frequency": "cada 8 horas",
                    "duration": "5 días",
                    "status": "completed",
                    "prescribed_at": "2026-03-15T10:25:00-03:00",
                },
                {
                    "id": 4,
                    "kind": "procedure",
                    "description": "Nebulización",
                    "dose": None,
                    "route": None,
                    "frequency": None,
                    "duration": None,
                    "status": "completed",
                    "prescribed_at": "2026-03-15T10:30:00-03:00",
                },
            ],
            "observations": [
                {
                    "id": 5,
                    "kind": "presion_arterial",
                    "value": "120/80",
                    "unit": "mmHg",
                    "recorded_at": "2026-03-15T10:05:00-03:00",
                },
                {
                    "id": 6,
                    "kind": "peso",
                    "value": "72.5",
                    "unit": "kg",
                    "recorded_at": "2026-03-15T10:05:00-03:00",
                },
                {
                    "id": 9,
                    "kind": "nota_enfermeria",
                    "value": "Paciente tranquilo",
                    "unit": None,
                    "recorded_at": "2026-03-15T10:06:00-03:00",
                },
            ],
        },
        {
            "id": 8,
            "starts_at": "2026-02-01T09:00:00-03:00",
            "reason": "x",
            "status": "entered-in-error",
            "doctor": {"id": 1, "name": "Dra. Carolina Soto", "specialty": "Medicina General"},
            "diagnoses": [],
            "treatments": [],
        },
    ],
}
ADMIN: dict[str, Any] = {
    "patient": {
        "rut": "11111111-1",
        "nombre": "Juan Pérez",
        "email": "juan@example.cl",
        "telefono": "+56911111111",
        "fecha_nacimiento": "1978-05-14",
        "sexo": "masculino",
    },
    "coverage": {"description": "FONASA tramo C MLE"},
    "invoices": [
        {
            "number": "F-000002",
            "issued_at": "2026-03-15T11:00:00-03:00",
            "status": "partially-paid",
            "total": 80000,
            "copay": 40000,
            "lines": [{"description": "Consulta", "amount": 80000}],
        },
    ],
}


def test_history_reads_plainly_and_hides_what_was_entered_in_error() -> None:
    view = transform.medical_history("11111111-1", CLINICAL, ADMIN, [])
    assert view["partial"] is False and view["patient"]["coverage"] == "FONASA tramo C MLE"
    [visit] = view["consultations"]
    assert visit["date_text"] == "15 de marzo de 2026, 10:00"
    assert visit["status"] == "Finalizada"
    assert visit["diagnoses"] == [{"text": "Faringitis aguda", "code": "J02.9", "main": True}]
    assert visit["treatments"][0]["text"] == (
        "Paracetamol 500 mg, vía oral, cada 8 horas, durante 5 días"
    )
    assert visit["treatments"][1]["kind"] == "Procedimiento"
    assert visit["vitals"] == ["Presión arterial: 120/80 mmHg", "Peso: 72.5 kg"]


def test_a_missing_part_is_said_not_invented() -> None:
    view = transform.medical_history("11111111-1", CLINICAL, None, ["datos administrativos"])
    assert view["partial"] is True and view["patient"] is None
    assert view["missing"] == ["datos administrativos"]


def test_fhir_bundle_is_valid_r4() -> None:
    bundle = fhir.everything("11111111-1", CLINICAL, ADMIN)
    bundle["entry"].append(fhir.incomplete_outcome(["datos administrativos"]))
    parsed = Bundle.model_validate(bundle)
    kinds = sorted({entry.resource.__resource_type__ for entry in parsed.entry})
    assert kinds == [
        "Condition",
        "Encounter",
        "Invoice",
        "MedicationRequest",
        "Observation",
        "OperationOutcome",
        "Patient",
        "Procedure",
    ]
    patient = bundle["entry"][0]["resource"]
    assert patient["identifier"][0] == {"system": fhir.RUN_SYSTEM, "value": "11111111-1"}
    assert (patient["gender"], patient["birthDate"]) == ("male", "1978-05-14")
    references = {e["resource"].get("subject", {}).get("reference") for e in bundle["entry"][1:]}
    assert references - {None} == {bundle["entry"][0]["fullUrl"]}


def test_fhir_ids_are_stable() -> None:
    first = fhir.everything("11111111-1", CLINICAL, ADMIN)
    second = fhir.everything("11111111-1", CLINICAL, ADMIN)
    assert [e["fullUrl"] for e in first["entry"]] == [e["fullUrl"] for e in second["entry"]]


def test_vital_signs_are_loinc_coded_observations_and_notes_are_not() -> None:
    bundle = fhir.everything("11111111-1", CLINICAL, ADMIN)
    observations = [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"
    ]
    assert [o["code"]["coding"][0]["code"] for o in observations] == ["85354-9", "29463-7"]
    pressure = observations[0]
    assert [c["code"]["coding"][0]["code"] for c in pressure["component"]] == [
        "8480-6",
        "8462-4",
    ]
    assert pressure["component"][0]["valueQuantity"] == {
        "value": 120.0,
        "unit": "mmHg",
        "system": fhir.UCUM,
        "code": "mm[Hg]",
    }
    assert observations[1]["valueQuantity"]["code"] == "kg"
    assert all(o["category"][0]["coding"][0]["code"] == "vital-signs" for o in observations)
