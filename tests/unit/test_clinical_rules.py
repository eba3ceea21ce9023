from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from medsys.clinical.records import slot_starts
from medsys.clinical.schemas import DiagnosisIn, ScheduleIn
from medsys.core.clock import local_iso, parse_instant
from medsys.core.errors import InvalidInput


def test_weekly_slots_keep_their_local_hour_across_the_april_dst_change() -> None:
    # Chile leaves summer time on the night of Saturday 4 April 2026 (UTC-3 -> UTC-4).
    rule = ScheduleIn(weekday=0, start="09:00", end="10:00", slot_minutes=30, weeks=2)
    starts = slot_starts(rule, date(2026, 3, 30))
    assert starts == [
        datetime(2026, 3, 30, 12, 0, tzinfo=UTC),
        datetime(2026, 3, 30, 12, 30, tzinfo=UTC),
        datetime(2026, 4, 6, 13, 0, tzinfo=UTC),
        datetime(2026, 4, 6, 13, 30, tzinfo=UTC),
    ]
    assert [local_iso(s)[11:16] for s in starts] == ["09:00", "09:30", "09:00", "09:30"]  # type: ignore[index]


def test_naive_times_are_santiago_time_and_aware_ones_are_converted() -> None:
    assert parse_instant("2026-01-15T10:00") == datetime(2026, 1, 15, 13, 0, tzinfo=UTC)
    assert parse_instant("2026-07-15T10:00") == datetime(2026, 7, 15, 14, 0, tzinfo=UTC)
    assert parse_instant("2026-07-15T10:00:00Z") == datetime(2026, 7, 15, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", ["", "mañana", "2026-13-01T10:00", "15/07/2026"])
def test_unreadable_times_are_refused_in_spanish(text: str) -> None:
    with pytest.raises(InvalidInput, match="fecha"):
        parse_instant(text)


@pytest.mark.parametrize("code", ["J06.9", "i10", "S93.4", "Z00.0"])
def test_icd10_codes_accepted(code: str) -> None:
    assert DiagnosisIn(code=code, description="x").code == code.upper()


@pytest.mark.parametrize(
    "code",
    # shapes that are no code, then codes the WHO catalogue does not have as a diagnosis:
    # a US ICD-10-CM extension, a category with subdivisions, a code that does not exist
    ["J6", "123", "J06.", "JJ06", "J06.12345", "S93.40", "Z00", "J06.7"],
)
def test_icd10_codes_refused(code: str) -> None:
    with pytest.raises(ValidationError, match="CIE-10"):
        DiagnosisIn(code=code, description="x")


def test_schedule_hours_are_checked() -> None:
    with pytest.raises(ValidationError):
        ScheduleIn(weekday=7, start="25:00", end="10:00")
