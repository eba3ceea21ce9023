"""Charge capture, pure: a closed consultation, as clinical describes it, becomes the items
to charge — one consultation of the doctor's specialty and each procedure — priced from the
accountant's list (an item with no price waits, it is never guessed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

# How far back each capture reads again: a consultation closed a moment before another
# may commit after it, so a cursor read at the later one's time would pass it by. The
# pair consultation-item is unique, so what is read twice is captured once.
LOOKBACK = timedelta(minutes=10)


@dataclass(frozen=True)
class Item:
    consultation_id: int
    patient_rut: str
    item: str
    kind: str
    description: str
    amount: int | None
    closed_at: datetime | None = None


def cursor_start(last_closed: datetime | None) -> datetime | None:
    """Where a capture starts reading: ``LOOKBACK`` before the last closing captured; from
    the first consultation when none was (or only charges captured before the cursor)."""
    return None if last_closed is None else last_closed - LOOKBACK


def consultation_item(specialty: str) -> str:
    return f"consulta:{specialty.strip()}"


def procedure_item(description: str) -> str:
    return f"procedimiento:{description.strip().lower()}"


def items_of(consultation: dict[str, Any], prices: dict[str, int]) -> list[Item]:
    cid, rut = int(consultation["consultation_id"]), str(consultation["patient_rut"])
    closed = consultation.get("closed_at")
    closed_at = datetime.fromisoformat(closed) if closed else None
    specialty = str(consultation.get("specialty") or "Medicina General")
    first = consultation_item(specialty)
    found = [
        Item(cid, rut, first, "consultation", f"Consulta {specialty}", prices.get(first), closed_at)
    ]
    for description in dict.fromkeys(consultation.get("procedures", [])):
        item = procedure_item(str(description))
        found.append(
            Item(cid, rut, item, "procedure", str(description), prices.get(item), closed_at)
        )
    return found
