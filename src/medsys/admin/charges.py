"""Charge capture, pure: a closed consultation, as clinical describes it, becomes the items
to charge — one consultation of the doctor's specialty and each procedure — priced from the
accountant's list (an item with no price waits, it is never guessed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Item:
    consultation_id: int
    patient_rut: str
    item: str
    kind: str
    description: str
    amount: int | None


def consultation_item(specialty: str) -> str:
    return f"consulta:{specialty.strip()}"


def procedure_item(description: str) -> str:
    return f"procedimiento:{description.strip().lower()}"


def items_of(consultation: dict[str, Any], prices: dict[str, int]) -> list[Item]:
    cid, rut = int(consultation["consultation_id"]), str(consultation["patient_rut"])
    specialty = str(consultation.get("specialty") or "Medicina General")
    first = consultation_item(specialty)
    found = [Item(cid, rut, first, "consultation", f"Consulta {specialty}", prices.get(first))]
    for description in dict.fromkeys(consultation.get("procedures", [])):
        item = procedure_item(str(description))
        found.append(Item(cid, rut, item, "procedure", str(description), prices.get(item)))
    return found
