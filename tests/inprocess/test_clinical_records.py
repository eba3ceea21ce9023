"""The clinical records layer called directly (``medsys.clinical.records``): a Session in,
rows or a MedsysError out, against the real clinical primary in one rolled-back
transaction per test."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from medsys.clinical import records
from medsys.clinical.models import EncounterStatus, Slot, SlotStatus, Staff, StaffRole
from medsys.clinical.schemas import ConsultationIn, ConsultationPatch, DiagnosisIn, ScheduleIn
from medsys.core.clock import SANTIAGO, utc_now
from medsys.core.errors import Conflict, InvalidInput, NotFound
from medsys.core.rut import check_digit
from tests.inprocess.conftest import OneTransaction

pytestmark = pytest.mark.inprocess


def new_rut() -> str:
    body = random.randint(30_000_000, 39_999_999)
    return f"{body}-{check_digit(body)}"


def seen(slot: Slot) -> tuple[int, str, str | None]:
    """What a caller keeps of a slot once the transaction's session is closed."""
    return slot.id, slot.status, slot.patient_rut


def reserve(db: OneTransaction, slot_id: int, rut: str, key: str) -> tuple[int, str, str | None]:
    return db.write(
        lambda s: seen(records.reserve_slot(s, slot_id=slot_id, patient_rut=rut, key=key))
    )


def a_doctor(db: OneTransaction) -> int:
    return db.read(
        lambda s: s.scalars(select(Staff.id).where(Staff.role == StaffRole.DOCTOR)).first()
    )


def next_weekday_slots(db: OneTransaction, doctor_id: int) -> list[int]:
    """Two fresh 25-minute slots in three days, late at night where no other test books."""
    day = datetime.now(SANTIAGO).date() + timedelta(days=3)
    rule = ScheduleIn(weekday=day.weekday(), start="22:05", end="22:55", slot_minutes=25, weeks=1)
    made = db.write(
        lambda s: [slot.id for slot in records.add_schedule(s, doctor_id=doctor_id, rule=rule)]
    )
    return made


def test_a_reservation_is_idempotent_per_key_and_exclusive(clinical_db: OneTransaction) -> None:
    slots = next_weekday_slots(clinical_db, a_doctor(clinical_db))
    assert len(slots) == 2
    slot_id, patient, other = slots[0], new_rut(), new_rut()

    first = reserve(clinical_db, slot_id, patient, "k-first-1")
    assert first[1:] == (SlotStatus.RESERVED, patient)
    again = reserve(clinical_db, slot_id, patient, "k-first-1")
    assert again == first
    with pytest.raises(Conflict, match="ya no está disponible"):
        reserve(clinical_db, slot_id, other, "k-other-1")
    with pytest.raises(Conflict, match="otro paciente"):
        reserve(clinical_db, slot_id, other, "k-first-1")
    released = clinical_db.write(
        lambda s: seen(records.release_slot(s, slot_id=slot_id, key="k-first-1"))
    )
    assert released[1:] == (SlotStatus.FREE, None)
    # Releasing again is harmless; the slot is free for the other patient now.
    clinical_db.write(lambda s: seen(records.release_slot(s, slot_id=slot_id, key="k-first-1")))
    taken = reserve(clinical_db, slot_id, other, "k-other-1")
    assert taken[1:] == (SlotStatus.RESERVED, other)


def test_a_blocked_slot_cannot_be_reserved_and_a_reserved_one_cannot_be_blocked(
    clinical_db: OneTransaction,
) -> None:
    free, booked = next_weekday_slots(clinical_db, a_doctor(clinical_db))
    clinical_db.write(lambda s: seen(records.block_slot(s, slot_id=free, reason="Congreso")))
    with pytest.raises(Conflict):
        reserve(clinical_db, free, new_rut(), "k-block-1")
    reserve(clinical_db, booked, new_rut(), "k-book-1")
    with pytest.raises(Conflict, match="libérelo"):
        clinical_db.write(lambda s: seen(records.block_slot(s, slot_id=booked, reason="Congreso")))


def test_a_closed_consultation_takes_no_more_changes(clinical_db: OneTransaction) -> None:
    patient, doctor_id = new_rut(), a_doctor(clinical_db)
    data = ConsultationIn(
        patient_rut=patient,
        doctor_id=doctor_id,
        starts_at=(utc_now() - timedelta(minutes=20)).isoformat(),
        reason="Control",
    )
    created = clinical_db.write(
        lambda s: records.create_consultation(s, data=data, author="dr.prueba").id
    )
    clinical_db.write(
        lambda s: records.add_diagnosis(  # type: ignore[func-returns-value]
            s,
            consultation_id=created,
            data=DiagnosisIn(code="I10", description="Hipertensión esencial"),
            author="dr.prueba",
        )
    )
    closed = clinical_db.write(
        lambda s: records.close_consultation(s, consultation_id=created).status
    )
    assert closed == EncounterStatus.FINISHED
    with pytest.raises(Conflict):
        clinical_db.write(
            lambda s: records.update_consultation(
                s,
                consultation_id=created,
                change=ConsultationPatch(notes="tarde"),
                author="dr.prueba",
            )
        )

    def history(session: Session) -> tuple[int, list[tuple[int, list[str]]]]:
        rows, total = records.history(session, rut=patient, page=1, per_page=10)
        return total, [(row.id, [d.code for d in row.diagnoses]) for row in rows]

    assert clinical_db.read(history) == (1, [(created, ["I10"])])


def test_unknown_records_are_not_found_and_a_slot_in_the_past_cannot_be_booked(
    clinical_db: OneTransaction,
) -> None:
    with pytest.raises(NotFound):
        clinical_db.read(lambda s: records.consultation(s, consultation_id=2_000_000_000))
    with pytest.raises(NotFound):
        clinical_db.read(lambda s: records.doctor(s, doctor_id=2_000_000_000))
    doctor_id = a_doctor(clinical_db)
    with pytest.raises(InvalidInput, match="pasado"):
        clinical_db.write(
            lambda s: records.reserve_slot(
                s, slot_id=_past_slot(clinical_db, doctor_id), patient_rut=new_rut(), key="k-past"
            )
        )
    with pytest.raises(InvalidInput, match="anterior"):
        clinical_db.write(
            lambda s: records.add_schedule(
                s, doctor_id=doctor_id, rule=ScheduleIn(weekday=2, start="12:00", end="11:00")
            )
        )


def _past_slot(db: OneTransaction, doctor_id: int) -> int:
    """A slot that has already begun, made directly: the layer itself makes none."""

    def work(session: Session) -> int:
        slot = Slot(
            doctor_id=doctor_id,
            starts_at=utc_now() - timedelta(hours=1, minutes=7),
            ends_at=utc_now() - timedelta(minutes=37),
        )
        session.add(slot)
        session.flush()
        return slot.id

    return db.write(work)


def test_a_history_pages_newest_first_with_each_consultations_own_diagnoses(
    clinical_db: OneTransaction,
) -> None:
    """The statements are built once, at import: each call must still bind its own patient,
    page and consultations."""
    patient, other, doctor_id = new_rut(), new_rut(), a_doctor(clinical_db)

    def consult(rut: str, minutes_ago: int, code: str) -> int:
        data = ConsultationIn(
            patient_rut=rut,
            doctor_id=doctor_id,
            starts_at=(utc_now() - timedelta(minutes=minutes_ago)).isoformat(),
            reason=f"Control {code}",
        )
        made = clinical_db.write(
            lambda s: records.create_consultation(s, data=data, author="dr.prueba").id
        )
        clinical_db.write(
            lambda s: records.add_diagnosis(  # type: ignore[func-returns-value]
                s, consultation_id=made, data=DiagnosisIn(code=code, description=code), author="x"
            )
        )
        return made

    oldest, middle, newest = (
        consult(patient, 90, "I10"),
        consult(patient, 60, "J06.9"),
        consult(patient, 30, "E11.9"),
    )
    consult(other, 10, "J00")

    def page(number: int, size: int) -> tuple[int, list[tuple[int, list[str]]]]:
        def read(session: Session) -> tuple[int, list[tuple[int, list[str]]]]:
            rows, total = records.history(session, rut=patient, page=number, per_page=size)
            return total, [(row.id, [d.code for d in row.diagnoses]) for row in rows]

        return clinical_db.read(read)

    assert page(1, 10) == (3, [(newest, ["E11.9"]), (middle, ["J06.9"]), (oldest, ["I10"])])
    assert page(1, 2) == (3, [(newest, ["E11.9"]), (middle, ["J06.9"])])
    assert page(2, 2) == (3, [(oldest, ["I10"])])
    assert page(3, 2) == (3, [])
