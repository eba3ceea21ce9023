"""Who pays what: the insurer's share and the patient's copay of each invoice line.

Pure functions on integer Chilean pesos (CLP has no cents). The insurer's share is rounded
down and the patient pays the remaining peso, so shares always add up to the line exactly.

Rules (simplified from the Chilean system; the numbers are data a clinic would tune):
- No coverage (PARTICULAR): the patient pays everything.
- FONASA, Modalidad de Atención Institucional (MAI), public network: no copay for any
  tramo since September 2022 ("copago cero").
- FONASA, Modalidad Libre Elección (MLE): FONASA pays ``MLE_SHARE_PERCENT`` of the
  price; tramo A cannot use MLE (it is for tramos B, C and D).
- ISAPRE, CAPREDENA, DIPRECA: the plan's coverage percentage.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Insurer(StrEnum):
    FONASA = "FONASA"
    ISAPRE = "ISAPRE"
    CAPREDENA = "CAPREDENA"
    DIPRECA = "DIPRECA"
    PARTICULAR = "PARTICULAR"


class FonasaTramo(StrEnum):
    A = "A"
    B = "B"
    C = "C"
    D = "D"


class Modality(StrEnum):
    MAI = "MAI"
    MLE = "MLE"


MLE_SHARE_PERCENT = 50


class CoverageRuleError(ValueError):
    """The coverage cannot pay for this care; ``str()`` says why, in Spanish."""


@dataclass(frozen=True)
class Coverage:
    insurer: Insurer
    tramo: FonasaTramo | None = None
    modality: Modality | None = None
    percent: int | None = None  # ISAPRE, CAPREDENA, DIPRECA

    def describe(self) -> str:
        if self.insurer is Insurer.FONASA:
            return f"FONASA tramo {self.tramo} {self.modality}"
        if self.percent is not None:
            return f"{self.insurer.value} {self.percent}%"
        return self.insurer.value


PARTICULAR = Coverage(Insurer.PARTICULAR)


@dataclass(frozen=True)
class Split:
    insurer: int
    patient: int


def insurer_percent(coverage: Coverage) -> int:
    if coverage.insurer is Insurer.PARTICULAR:
        return 0
    if coverage.insurer is Insurer.FONASA:
        if coverage.tramo is None or coverage.modality is None:
            raise CoverageRuleError("Una cobertura FONASA necesita tramo y modalidad.")
        if coverage.modality is Modality.MAI:
            return 100
        if coverage.tramo is FonasaTramo.A:
            raise CoverageRuleError(
                "El tramo A de FONASA no puede usar la Modalidad Libre Elección."
            )
        return MLE_SHARE_PERCENT
    if coverage.percent is None or not 0 <= coverage.percent <= 100:
        raise CoverageRuleError(
            f"La cobertura {coverage.insurer.value} necesita un porcentaje de 0 a 100."
        )
    return coverage.percent


def split(amount: int, coverage: Coverage) -> Split:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise CoverageRuleError("Un monto debe ser un número entero de pesos, sin decimales.")
    insurer = amount * insurer_percent(coverage) // 100
    return Split(insurer=insurer, patient=amount - insurer)


def split_lines(amounts: list[int], coverage: Coverage) -> tuple[list[Split], Split]:
    """Per-line shares and their totals (the totals are sums of the rounded lines)."""
    lines = [split(amount, coverage) for amount in amounts]
    total = Split(
        insurer=sum(line.insurer for line in lines), patient=sum(line.patient for line in lines)
    )
    return lines, total


def pesos(amount: int) -> str:
    """How Chileans write money: $12.345."""
    return "$" + f"{amount:,}".replace(",", ".")


def invoice_status(patient_due: int, allocated: int, voided: bool) -> str:
    """issued, partially-paid, paid or void, from what is owed and what was allocated."""
    if voided:
        return "void"
    if allocated >= patient_due:
        return "paid"
    return "partially-paid" if allocated > 0 else "issued"
