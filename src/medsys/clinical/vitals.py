"""Vital signs, pure: what a nurse or doctor may record, and the chart drawn from them.

Stored as observations (kind, value, unit) like any other: blood pressure as "120/80"
mmHg, weight in kg, temperature in °C, heart rate per minute. The chart is a small SVG
drawn here, server-side: a few dozen points per series need no plotting library, and an
SVG with no script passes the pages' Content-Security-Policy (pygal's interactive charts
inline scripts).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from html import escape

from medsys.core.vital_signs import (
    BLOOD_PRESSURE,
    HEART_RATE,
    LABELS,
    NURSING_NOTE,
    TEMPERATURE,
    UNITS,
    WEIGHT,
)

__all__ = [
    "BLOOD_PRESSURE",
    "HEART_RATE",
    "LABELS",
    "NURSING_NOTE",
    "TEMPERATURE",
    "UNITS",
    "WEIGHT",
]

# Plausible for a living patient; outside, it is a typing error, not a reading.
RANGES = {
    "systolic": (50.0, 260.0),
    "diastolic": (20.0, 160.0),
    WEIGHT: (0.3, 400.0),
    TEMPERATURE: (30.0, 45.0),
    HEART_RATE: (20.0, 250.0),
}
_NUMBER = re.compile(r"^\d{1,3}([.,]\d{1,2})?$")


class VitalsError(ValueError):
    """What is wrong with the form, in Spanish, naming the field."""


@dataclass(frozen=True)
class Reading:
    kind: str
    value: str
    unit: str


def _number(text: str, field: str, label: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    if not _NUMBER.match(text):
        raise VitalsError(f"{label}: escriba un número, p. ej. 72 o 36,8.")
    value = float(text.replace(",", "."))
    low, high = RANGES[field]
    if not low <= value <= high:
        raise VitalsError(f"{label}: {text} está fuera de lo posible ({low:g} a {high:g}).")
    return value


def _shown(value: float) -> str:
    return f"{value:g}"


def readings_from_form(form: dict[str, str]) -> list[Reading]:
    """The readings a vitals form holds (each field optional, at least one given)."""
    found: list[Reading] = []
    systolic = _number(form.get("sistolica", ""), "systolic", "Presión sistólica")
    diastolic = _number(form.get("diastolica", ""), "diastolic", "Presión diastólica")
    if (systolic is None) != (diastolic is None):
        raise VitalsError("Presión arterial: anote la sistólica y la diastólica.")
    if systolic is not None and diastolic is not None:
        if diastolic >= systolic:
            raise VitalsError("Presión arterial: la diastólica debe ser menor que la sistólica.")
        value = f"{_shown(systolic)}/{_shown(diastolic)}"
        found.append(Reading(BLOOD_PRESSURE, value, UNITS[BLOOD_PRESSURE]))
    for kind, field in ((WEIGHT, "peso"), (TEMPERATURE, "temperatura"), (HEART_RATE, "pulso")):
        number = _number(form.get(field, ""), kind, LABELS[kind])
        if number is not None:
            found.append(Reading(kind, _shown(number), UNITS[kind]))
    if not found:
        raise VitalsError("Anote al menos un signo vital.")
    return found


@dataclass(frozen=True)
class Point:
    at: datetime
    value: float


def series(observations: list[tuple[str, str, datetime]]) -> dict[str, list[Point]]:
    """(kind, value, when) → points per charted line, oldest first; values that do not
    parse (older free-text entries) are left out of the chart, not guessed."""
    lines: dict[str, list[Point]] = {
        "systolic": [],
        "diastolic": [],
        WEIGHT: [],
        TEMPERATURE: [],
    }
    for kind, value, when in sorted(observations, key=lambda item: item[2]):
        try:
            if kind == BLOOD_PRESSURE:
                high, low = value.split("/")
                lines["systolic"].append(Point(when, float(high)))
                lines["diastolic"].append(Point(when, float(low)))
            elif kind in (WEIGHT, TEMPERATURE):
                lines[kind].append(Point(when, float(value.replace(",", "."))))
        except ValueError:
            continue
    return lines


def svg_chart(title: str, lines: dict[str, list[Point]], unit: str, *, width: int = 440) -> str:
    """A line chart as SVG text: one polyline per series, the first and last times and the
    value range as labels, a title and a table-like description for screen readers."""
    height, left, right, top, bottom = 160, 44, 12, 24, 28
    points = [p for line in lines.values() for p in line]
    heading = escape(title)
    if not points:
        return (
            f'<svg role="img" aria-label="{heading}: sin registros" width="{width}" '
            f'height="40" xmlns="http://www.w3.org/2000/svg"><text x="0" y="24">'
            f"{heading}: sin registros</text></svg>"
        )
    first, last = min(p.at for p in points), max(p.at for p in points)
    low, high = min(p.value for p in points), max(p.value for p in points)
    if high == low:
        low, high = low - 1, high + 1
    span = (last - first).total_seconds() or 1.0

    def x(at: datetime) -> float:
        return left + (width - left - right) * (at - first).total_seconds() / span

    def y(value: float) -> float:
        return top + (height - top - bottom) * (high - value) / (high - low)

    colours = ["#0b5cad", "#a4161a", "#14532d"]
    drawn = []
    described = []
    for colour, (name, line) in zip(colours, lines.items(), strict=False):
        if not line:
            continue
        coordinates = " ".join(f"{x(p.at):.1f},{y(p.value):.1f}" for p in line)
        drawn.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coordinates}"/>'
        )
        drawn += [
            f'<circle cx="{x(p.at):.1f}" cy="{y(p.value):.1f}" r="3" fill="{colour}"/>'
            for p in line
        ]
        described.append(f"{escape(name)}: " + ", ".join(f"{p.value:g}" for p in line))
    label = f"{heading} ({escape(unit)}). " + "; ".join(described)
    return (
        f'<svg role="img" aria-label="{label}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
        f'<text x="0" y="14" font-weight="700">{heading} ({escape(unit)})</text>'
        f'<text x="0" y="{y(high) + 4:.0f}" font-size="11">{high:g}</text>'
        f'<text x="0" y="{y(low) + 4:.0f}" font-size="11">{low:g}</text>'
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" '
        'stroke="#9aa5b1"/>'
        f'<text x="{left}" y="{height - 8}" font-size="11">{first:%d-%m-%Y}</text>'
        f'<text x="{width - right}" y="{height - 8}" font-size="11" text-anchor="end">'
        f"{last:%d-%m-%Y}</text>" + "".join(drawn) + "</svg>"
    )
