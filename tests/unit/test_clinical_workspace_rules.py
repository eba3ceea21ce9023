"""The workspace's pure rules: visit transitions, vital-sign forms and their chart, the
ICD-10 catalogue search, and how admin's answers read on the pages."""

from datetime import UTC, datetime, timedelta

import pytest

from medsys.clinical import icd10, vitals
from medsys.clinical.models import VisitStatus
from medsys.clinical.registry import Lookup
from medsys.clinical.visits import VisitEvent, VisitRuleError, next_status, status_of


def test_a_visit_moves_forward_only() -> None:
    assert next_status(VisitStatus.BOOKED, VisitEvent.CHECK_IN) is VisitStatus.ARRIVED
    assert next_status(VisitStatus.ARRIVED, VisitEvent.START) is VisitStatus.IN_CONSULTATION
    assert next_status(VisitStatus.BOOKED, VisitEvent.START) is VisitStatus.IN_CONSULTATION
    assert next_status(VisitStatus.IN_CONSULTATION, VisitEvent.FINISH) is VisitStatus.FINISHED
    assert next_status(VisitStatus.ARRIVED, VisitEvent.NO_SHOW) is VisitStatus.NO_SHOW
    for current, event in [
        (VisitStatus.ARRIVED, VisitEvent.CHECK_IN),
        (VisitStatus.FINISHED, VisitEvent.START),
        (VisitStatus.NO_SHOW, VisitEvent.CHECK_IN),
        (VisitStatus.IN_CONSULTATION, VisitEvent.NO_SHOW),
        (VisitStatus.BOOKED, VisitEvent.FINISH),
    ]:
        with pytest.raises(VisitRuleError):
            next_status(current, event)


def test_a_reservation_made_before_visits_existed_counts_as_booked() -> None:
    assert status_of(True, None) is VisitStatus.BOOKED
    assert status_of(True, "arrived") is VisitStatus.ARRIVED
    assert status_of(False, None) is None


def test_a_vitals_form_gives_readings_with_units() -> None:
    found = vitals.readings_from_form(
        {"sistolica": "120", "diastolica": "80", "peso": "72,5", "temperatura": "36.8"}
    )
    assert [(r.kind, r.value, r.unit) for r in found] == [
        (vitals.BLOOD_PRESSURE, "120/80", "mmHg"),
        (vitals.WEIGHT, "72.5", "kg"),
        (vitals.TEMPERATURE, "36.8", "°C"),
    ]


@pytest.mark.parametrize(
    ("form", "complaint"),
    [
        ({}, "al menos un signo"),
        ({"sistolica": "120"}, "sistólica y la diastólica"),
        ({"sistolica": "80", "diastolica": "120"}, "menor que la sistólica"),
        ({"temperatura": "73"}, "fuera de lo posible"),
        ({"peso": "setenta"}, "escriba un número"),
        ({"pulso": "-5"}, "escriba un número"),
    ],
)
def test_a_vitals_form_with_a_mistake_says_which(form: dict[str, str], complaint: str) -> None:
    with pytest.raises(vitals.VitalsError, match=complaint):
        vitals.readings_from_form(form)


def test_the_chart_draws_each_series_oldest_first_and_skips_free_text() -> None:
    start = datetime(2026, 3, 1, 12, tzinfo=UTC)
    lines = vitals.series(
        [
            (vitals.BLOOD_PRESSURE, "130/85", start + timedelta(days=2)),
            (vitals.BLOOD_PRESSURE, "120/80", start),
            (vitals.WEIGHT, "72", start),
            (vitals.TEMPERATURE, "febril", start),
        ]
    )
    assert [p.value for p in lines["systolic"]] == [120, 130]
    assert [p.value for p in lines["diastolic"]] == [80, 85]
    assert lines[vitals.TEMPERATURE] == []
    svg = vitals.svg_chart("Presión arterial", {"Sistólica": lines["systolic"]}, "mmHg")
    assert svg.startswith("<svg") and "<polyline" in svg and "<script" not in svg
    assert 'aria-label="Presión arterial (mmHg). Sistólica: 120, 130"' in svg
    assert "sin registros" in vitals.svg_chart("Peso", {"Peso": []}, "kg")


def test_icd10_search_by_code_and_by_words() -> None:
    assert icd10.search("J06.9")[0] == icd10.Entry(
        "J06.9", "Acute upper respiratory infection, unspecified"
    )
    assert icd10.search("j069")[0].code == "J06.9"
    assert {e.code for e in icd10.search("anencephaly")} == {"Q00.0"}
    assert all(e.code.startswith("I1") for e in icd10.search("I1"))
    assert icd10.entry("J06") is None, "a category with subdivisions is not a diagnosis code"
    assert icd10.entry("Q00.0") is not None
    assert icd10.search("   ") == []


def test_admin_answers_read_as_names_and_coverage() -> None:
    found = Lookup(
        {
            "11111111-1": {
                "nombre": "Ana Pérez",
                "coverage": {"insurer": "fonasa", "tramo": "B", "plan": None},
            },
            "22222222-2": {"nombre": "Luis Soto", "coverage": None},
        }
    )
    assert found.name("11111111-1") == "Ana Pérez"
    assert found.coverage("11111111-1") == "FONASA tramo B"
    assert found.coverage("22222222-2") is None
    assert found.name("33333333-3") is None
    assert not Lookup(available=False).available


def test_blocked_slots_read_as_ranges_per_day() -> None:
    from types import SimpleNamespace

    from medsys.clinical.workspace.schedule import blocked_ranges

    def slot(day: int, hour: int, minute: int, note: str = "Vacaciones") -> SimpleNamespace:
        start = datetime(2026, 12, day, hour, minute, tzinfo=UTC)
        return SimpleNamespace(starts_at=start, ends_at=start + timedelta(minutes=30), note=note)

    slots = [slot(7, 12, 0), slot(7, 12, 30), slot(7, 13, 0), slot(8, 12, 0), slot(8, 14, 0)]
    ranges = blocked_ranges(slots)  # type: ignore[arg-type]
    assert [(r["day"].day, f"{r['start']:%H:%M}", f"{r['end']:%H:%M}") for r in ranges] == [
        (7, "09:00", "10:30"),
        (8, "09:00", "09:30"),
        (8, "11:00", "11:30"),
    ]
