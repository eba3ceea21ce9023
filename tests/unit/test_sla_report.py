"""The SLA report's arithmetic: windows, error budgets, failovers read from a register."""

from __future__ import annotations

import pytest

from medsys.sla.report import (
    error_budget,
    failovers_from_register,
    mean,
    window_seconds,
    write_gap,
)


def test_windows_are_minutes_hours_or_days() -> None:
    assert window_seconds("90m") == 5400
    assert window_seconds("24h") == 86400
    assert window_seconds("30d") == 30 * 86400
    for wrong in ("", "1w", "0h", "-1h", "1.5h", "1h; drop"):
        with pytest.raises(ValueError, match="--since"):
            window_seconds(wrong)


def test_the_budget_of_a_month_is_four_percent_of_it() -> None:
    month = 30 * 86400
    budget = error_budget(0.99, month)
    assert budget.allowed_seconds == pytest.approx(0.04 * month)  # 28.8 hours
    assert budget.used_seconds == pytest.approx(0.01 * month)
    assert budget.left_share == pytest.approx(0.75)
    assert error_budget(0.95, month).left_seconds < 0  # over budget: the SLA is missed
    assert mean([1, 1, 0, 1]) == 0.75 and mean([]) is None


def _event(name: str, at: float, term: int, pair: str = "clinical") -> dict[str, object]:
    return {"event": name, "time": at, "term": term, "pair": pair}


def test_a_failover_is_read_from_its_probes_declaration_and_confirmation() -> None:
    register = [
        _event("probe-failed", 100.0, 4),  # a blip that recovered: not part of the failover
        _event("recovered", 100.5, 4),
        _event("probe-failed", 200.0, 4),
        _event("probe-failed", 200.5, 4),
        _event("primary-dead", 201.0, 4),
        _event("outcome", 201.1, 5),
        _event("promoted", 201.6, 5),
        _event("primary-dead", 300.0, 5),  # a refused or unfinished one has no promotion
    ]
    first, second = failovers_from_register(register)
    assert first.term == 4 and first.first_failed_probe == 200.0
    assert first.detection == pytest.approx(1.0)
    assert first.promotion == pytest.approx(0.6)
    assert second.promoted is None and second.promotion is None and second.detection is None


def test_the_write_gap_spans_the_failed_attempts_around_the_failover() -> None:
    every_5s = [(0.0, 1.0), (5.0, 1.0), (10.0, 0.0), (15.0, 0.0), (20.0, 1.0), (25.0, 1.0)]
    assert write_gap(every_5s, around=11.0, scrape=5.0) == pytest.approx(10.0)
    clean = [(0.0, 1.0), (5.0, 1.0), (10.0, 1.0)]
    assert write_gap(clean, around=6.0, scrape=5.0) == 0.0
    assert write_gap([(0.0, 1.0)], around=6.0, scrape=5.0) is None  # nothing after yet
