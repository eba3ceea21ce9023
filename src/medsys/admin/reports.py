"""The accountant's reports, pure: ledger rows in, figures out (tested without a server).

- Daily cash closing: per payment method and per person who recorded it, money received,
  given back and the net, for one day in Santiago.
- Receivables aging: what patients still owe on open invoices, by how long ago the invoice
  was issued (0–30, 31–60, 61–90, more than 90 days).
- Monthly income by insurer: what each insurer and the patients owe for the invoices of a
  month (void invoices excluded).
Every figure is a sum of ledger rows, so each report reconciles with the ledger itself.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

BUCKETS = ("0–30 días", "31–60 días", "61–90 días", "más de 90 días")


@dataclass(frozen=True)
class Movement:
    """A payment or a refund as the ledger has it."""

    kind: str  # payment | refund
    amount: int  # positive
    method: str
    recorded_by: str
    day: date  # in Santiago


@dataclass(frozen=True)
class ClosingRow:
    method: str
    recorded_by: str
    received: int
    refunded: int

    @property
    def net(self) -> int:
        return self.received - self.refunded


def cash_closing(movements: Iterable[Movement], day: date) -> list[ClosingRow]:
    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for movement in movements:
        if movement.day != day:
            continue
        row = sums[(movement.method, movement.recorded_by)]
        row[0 if movement.kind == "payment" else 1] += movement.amount
    return [
        ClosingRow(method, person, received, refunded)
        for (method, person), (received, refunded) in sorted(sums.items())
    ]


@dataclass(frozen=True)
class Receivable:
    patient_rut: str
    number: str
    issued_on: date
    outstanding: int


def bucket_of(issued_on: date, today: date) -> str:
    age = (today - issued_on).days
    if age <= 30:
        return BUCKETS[0]
    if age <= 60:
        return BUCKETS[1]
    return BUCKETS[2] if age <= 90 else BUCKETS[3]


def aging(receivables: Iterable[Receivable], today: date) -> dict[str, dict[str, int]]:
    """Per patient, what is owed in each bucket (only patients who owe something)."""
    owed: dict[str, dict[str, int]] = {}
    for item in receivables:
        if item.outstanding <= 0:
            continue
        row = owed.setdefault(item.patient_rut, dict.fromkeys(BUCKETS, 0))
        row[bucket_of(item.issued_on, today)] += item.outstanding
    return dict(sorted(owed.items()))


def aging_totals(owed: dict[str, dict[str, int]]) -> dict[str, int]:
    return {bucket: sum(row[bucket] for row in owed.values()) for bucket in BUCKETS}


@dataclass(frozen=True)
class Billed:
    month: str  # YYYY-MM in Santiago
    coverage_text: str
    insurer_share: int
    copay: int
    voided: bool


def insurer_of(coverage_text: str) -> str:
    """'FONASA tramo C MLE' → FONASA; 'ISAPRE 70%' → ISAPRE; no coverage → PARTICULAR."""
    word = (coverage_text.split() or ["PARTICULAR"])[0].upper()
    return word if word in {"FONASA", "ISAPRE", "CAPREDENA", "DIPRECA"} else "PARTICULAR"


def income_by_insurer(billed: Iterable[Billed]) -> list[tuple[str, str, int, int]]:
    """(month, insurer, insurer's share, patients' copay), month then insurer order."""
    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for invoice in billed:
        if invoice.voided:
            continue
        row = sums[(invoice.month, insurer_of(invoice.coverage_text))]
        row[0] += invoice.insurer_share
        row[1] += invoice.copay
    return [
        (month, insurer, share, copay) for (month, insurer), (share, copay) in sorted(sums.items())
    ]


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A list as CSV for a spreadsheet: semicolons (the decimal comma of es-CL) and a BOM
    so that Excel reads the accents."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return "\ufeff" + buffer.getvalue()
