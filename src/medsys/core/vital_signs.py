"""The vital-sign vocabulary every service shares: clinical records observations with
these kinds, the middleware shows them to patients and exports them as FHIR (LOINC)."""

from __future__ import annotations

BLOOD_PRESSURE = "presion_arterial"  # value "120/80", mmHg
WEIGHT = "peso"
TEMPERATURE = "temperatura"
HEART_RATE = "frecuencia_cardiaca"
NURSING_NOTE = "nota_enfermeria"

UNITS = {BLOOD_PRESSURE: "mmHg", WEIGHT: "kg", TEMPERATURE: "°C", HEART_RATE: "lpm"}
LABELS = {
    BLOOD_PRESSURE: "Presión arterial",
    WEIGHT: "Peso",
    TEMPERATURE: "Temperatura",
    HEART_RATE: "Frecuencia cardiaca",
    NURSING_NOTE: "Nota de enfermería",
}
VITAL_KINDS = (BLOOD_PRESSURE, WEIGHT, TEMPERATURE, HEART_RATE)
