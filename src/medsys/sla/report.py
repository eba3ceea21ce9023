"""The SLA report's arithmetic, apart from where the numbers come from: availability and
error budget against the seed's 96 % a month, and each failover read from a monitor's
failure register, with the write gap its pair's write journey saw.

Every function here is pure; ``sla.gather`` fills them from Prometheus and the registers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from medsys.sla.config import SLA_ANSWER_SECONDS, SLA_AVAILABILITY

_DURATION = re.compile(r"^([1-9][0-9]*)([mhd])$")
_SECONDS = {"m": 60, "h": 3600, "d": 86400}


def window_seconds(text: str) -> int:
    """``--since``: 90m, 1h, 24h, 30d."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise ValueError(f"--since {text!r}: give minutes, hours or days, such as 90m, 24h or 30d")
    return int(match.group(1)) * _SECONDS[match.group(2)]


def mean(samples: Iterable[float]) -> float | None:
    """The availability raw probe samples say: the share of attempts that worked."""
    values = list(samples)
    return sum(values) / len(values) if values else None


@dataclass(frozen=True)
class Budget:
    """The error budget of a window: the downtime the SLA allows, what was used of it."""

    allowed_seconds: float
    used_seconds: float

    @property
    def left_seconds(self) -> float:
        return self.allowed_seconds - self.used_seconds

    @property
    def left_share(self) -> float:
        return self.left_seconds / self.allowed_seconds if self.allowed_seconds else 0.0


def error_budget(availability: float, window: float, target: float = SLA_AVAILABILITY) -> Budget:
    return Budget((1 - target) * window, (1 - availability) * window)


@dataclass
class JourneyLine:
    journey: str
    service: str
    description: str
    samples: int
    availability: float | None
    p50: float | None
    p99: float | None
    slowest: float | None

    @property
    def meets_answer_sla(self) -> bool | None:
        return None if self.p99 is None else self.p99 <= SLA_ANSWER_SECONDS


@dataclass
class ServiceLine:
    service: str
    availability: float | None
    budget: Budget | None
    p50: float | None = None  # its HTTP answers, from the services' own histograms
    p99: float | None = None

    @property
    def meets_sla(self) -> bool | None:
        return None if self.availability is None else self.availability >= SLA_AVAILABILITY


@dataclass
class Failover:
    pair: str
    term: int  # the term the promotion started
    first_failed_probe: float | None  # unix time of the first failed probe of the primary
    declared_dead: float
    promoted: float | None  # the new primary took writes (None: never confirmed)
    write_gap: float | None = None  # seconds, at the write journey's sampling resolution

    @property
    def detection(self) -> float | None:
        """First failed probe to the primary declared dead."""
        if self.first_failed_probe is None:
            return None
        return self.declared_dead - self.first_failed_probe

    @property
    def promotion(self) -> float | None:
        return None if self.promoted is None else self.promoted - self.declared_dead


def failovers_from_register(events: Iterable[dict[str, Any]]) -> list[Failover]:
    """Each ``primary-dead`` with the failed probes just before it (same term) and the
    ``promoted`` confirmation that follows it (next term)."""
    ordered = sorted(events, key=lambda e: float(e.get("time", 0)))
    found: list[Failover] = []
    failing_since: dict[int, float] = {}
    for event in ordered:
        name, term, at = event.get("event"), int(event.get("term", 0)), float(event["time"])
        if name == "probe-failed":
            failing_since.setdefault(term, at)
        elif name in ("recovered", "promoted", "adopted"):
            failing_since.pop(term, None)
        if name == "primary-dead":
            found.append(
                Failover(str(event.get("pair")), term, failing_since.pop(term, None), at, None)
            )
        elif name == "promoted":
            waiting = [f for f in found if f.promoted is None and f.term + 1 == term]
            if waiting:
                waiting[-1].promoted = at
    return found


def write_gap(samples: list[tuple[float, float]], around: float, scrape: float) -> float | None:
    """The longest run of failed write attempts that touches ``around`` (the moment the
    primary was declared dead), from the last success before it to the first after; zero
    when no attempt failed near it. None without samples on both sides."""
    before = [t for t, v in samples if t <= around and v >= 1]
    after = [t for t, v in samples if t > around and v >= 1]
    if not before or not after:
        return None
    last_good, next_good = max(before), min(after)
    failed = [t for t, v in samples if last_good < t < next_good and v < 1]
    if not failed:
        return 0.0
    return next_good - last_good - scrape  # the sampling interval itself is no gap


@dataclass
class Report:
    window: int  # seconds
    at: float  # when it was evaluated (unix time): every figure is as of then
    journeys: list[JourneyLine]
    services: list[ServiceLine]
    failovers: list[Failover]
    alerts: list[dict[str, Any]] = field(default_factory=list)
    coverage: float | None = None  # share of the expected samples Prometheus holds
    # For the HTML report: (unix time, value) per series name.
    timelines: dict[str, dict[str, list[tuple[float, float]]]] = field(default_factory=dict)
