"""A closed consultation as the items to charge, priced from the list (pure)."""

from medsys.admin import charges

PRICES = {"consulta:Pediatría": 40_000, "procedimiento:curación simple": 12_000}


def test_a_consultation_charges_its_specialty_and_each_procedure_once() -> None:
    items = charges.items_of(
        {
            "consultation_id": 9,
            "patient_rut": "22222222-2",
            "specialty": "Pediatría",
            "procedures": ["Curación simple", "Nebulización", "Curación simple"],
        },
        PRICES,
    )
    assert [(i.item, i.kind, i.amount) for i in items] == [
        ("consulta:Pediatría", "consultation", 40_000),
        ("procedimiento:curación simple", "procedure", 12_000),
        ("procedimiento:nebulización", "procedure", None),
    ], "an item without a price waits for one; a repeated procedure is one item"


def test_a_consultation_without_specialty_is_general_medicine() -> None:
    [item] = charges.items_of({"consultation_id": 1, "patient_rut": "1-9"}, {})
    assert item.item == "consulta:Medicina General" and item.amount is None


def test_the_capture_reads_again_a_while_before_the_last_closing_it_captured() -> None:
    from datetime import UTC, datetime

    last = datetime(2026, 12, 6, 15, 0, tzinfo=UTC)
    assert charges.cursor_start(None) is None, "nothing captured yet: from the first"
    assert charges.cursor_start(last) == last - charges.LOOKBACK
    [item] = charges.items_of(
        {"consultation_id": 3, "patient_rut": "1-9", "closed_at": "2026-12-06T15:00:00+00:00"},
        {},
    )
    assert item.closed_at == last
