"""What a fault scenario measured, and which guarantees broke (none, when all is well)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Figures:
    scenario: str
    pair: str
    fault: str = ""
    detection: float | None = None
    promotion: float | None = None
    write_gap: float | None = None
    writes: int = 0
    write_errors: int = 0
    outcome_unknown: int = 0
    reads: int = 0
    read_errors: int = 0
    lost: int | None = 0  # None: not a database scenario
    duplicated: int | None = 0
    both_writable: bool = False
    failovers: int = 0
    rejoin: float | None = None
    notes: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.broken
