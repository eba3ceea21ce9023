"""The admin records layer called directly (``medsys.admin.records``) against the real
PostgreSQL primary, in one rolled-back transaction per test: billing by coverage, payments
allocated to the oldest invoices, idempotent replays, refunds and voids."""

from __future__ import annotations

import random
from datetime import date

import pytest
from sqlalchemy.orm import Session

from medsys.admin import records
from medsys.admin.schemas import CoverageIn, InvoiceIn, LineIn, PatientIn, PaymentIn, RefundIn
from medsys.core.errors import Conflict, InvalidInput, NotFound
from medsys.core.rut import check_digit
from tests.inprocess.conftest import OneTransaction

pytestmark = pytest.mark.inprocess


def new_patient(db: OneTransaction, **coverage: object) -> str:
    body = random.randint(40_000_000, 49_999_999)
    rut = f"{body}-{check_digit(body)}"

    def work(session: Session) -> None:
        records.create_patient(session, data=PatientIn(rut=rut, nombre="Paciente de Prueba"))
        if coverage:
            data = CoverageIn(valid_from=date(2020, 1, 1), **coverage)  # type: ignore[arg-type]
            records.add_coverage(session, rut=rut, data=data)

    db.write(work)
    return rut


def invoice(db: OneTransaction, rut: str, *amounts: int) -> tuple[str, int, int]:
    lines = [LineIn(kind="consultation", description="Consulta", amount=a) for a in amounts]

    def work(session: Session) -> tuple[str, int, int]:
        made = records.create_invoice(session, data=InvoiceIn(patient_rut=rut, lines=lines))
        return made.number, made.insurer_share, made.copay

    return db.write(work)


def pay(db: OneTransaction, rut: str, amount: int, key: str) -> tuple[int, bool]:
    data = PaymentIn(patient_rut=rut, amount=amount, method="efectivo")
    digest = records.digest(data.model_dump())

    def work(session: Session) -> tuple[int, bool]:
        payment, created = records.record_payment(
            session, data=data, key=key, request_digest=digest, author="caja.prueba"
        )
        return payment.id, created

    return db.write(work)


def test_a_patient_is_registered_once(admin_db: OneTransaction) -> None:
    rut = new_patient(admin_db)
    with pytest.raises(Conflict, match="Ya existe"):
        admin_db.write(
            lambda s: records.create_patient(s, data=PatientIn(rut=rut, nombre="Otra vez"))
        )
    with pytest.raises(NotFound):
        admin_db.read(lambda s: records.patient(s, rut="1-9"))
    found = admin_db.read(
        lambda s: [
            p.rut
            for p in records.search_patients(s, text="de prueba", ruts=[rut], page=1, per_page=5)
        ]
    )
    assert found == [rut]


def test_a_search_ignores_case_accents_and_word_order(admin_db: OneTransaction) -> None:
    body = random.randint(40_000_000, 49_999_999)
    rut = f"{body}-{check_digit(body)}"
    admin_db.write(
        lambda s: records.create_patient(
            s, data=PatientIn(rut=rut, nombre="María José Muñoz Ibáñez")
        )
    )

    def found(text: str) -> bool:
        hits = admin_db.read(
            lambda s: records.search_patients(s, text=text, ruts=[], page=1, per_page=100)
        )
        return rut in [p.rut for p in hits]

    dotted = f"{body:,}".replace(",", ".")
    for typed in ("munoz", "MUÑOZ", "ibanez maria", "Jose Muñoz", dotted, rut.lower()):
        assert found(typed), typed
    for typed in ("muñoz pérez", "maria%", "jose_munoz", "ñandú"):
        assert not found(typed), typed
    # A lone combining accent, or a dash that every RUT has, is no word: no one, not
    # everyone.
    for nothing in ("\u0303", "-", " - . "):
        assert (
            admin_db.read(
                lambda s, text=nothing: records.search_patients(
                    s, text=text, ruts=[], page=1, per_page=5
                )
            )
            == []
        ), repr(nothing)


def test_each_patient_of_a_list_gets_the_coverage_valid_on_the_day(
    admin_db: OneTransaction,
) -> None:
    changed = new_patient(admin_db, insurer="FONASA", tramo="B", modality="MAI")
    lapsed = new_patient(admin_db)
    uncovered = new_patient(admin_db)

    def cover(rut: str, **data: object) -> None:
        admin_db.write(
            lambda s: records.add_coverage(s, rut=rut, data=CoverageIn(**data))  # type: ignore[arg-type]
        )

    cover(changed, insurer="ISAPRE", plan="Plan 80", percent=80, valid_from=date(2024, 1, 1))
    cover(lapsed, insurer="PARTICULAR", valid_from=date(2020, 1, 1), valid_to=date(2022, 12, 31))
    ruts = [changed, lapsed, uncovered]

    def insurers(on: date) -> dict[str, str]:
        found = admin_db.read(lambda s: records.current_coverages(s, ruts=ruts, on=on))
        one_by_one = {
            rut: admin_db.read(lambda s, rut=rut: records.current_coverage(s, rut=rut, on=on))
            for rut in ruts
        }
        assert {rut: c.id for rut, c in found.items()} == {
            rut: c.id for rut, c in one_by_one.items() if c is not None
        }
        return {rut: c.insurer for rut, c in found.items()}

    # The latest begun wins; an ended one no longer counts; none is none.
    assert insurers(date(2025, 6, 1)) == {changed: "ISAPRE"}
    assert insurers(date(2021, 6, 1)) == {changed: "FONASA", lapsed: "PARTICULAR"}
    assert admin_db.read(lambda s: records.current_coverages(s, ruts=[])) == {}


def test_coverage_splits_each_invoice(admin_db: OneTransaction) -> None:
    private = new_patient(admin_db)
    assert invoice(admin_db, private, 30_000)[1:] == (0, 30_000)
    isapre = new_patient(admin_db, insurer="ISAPRE", plan="Plan 70", percent=70)
    assert invoice(admin_db, isapre, 30_000, 10_001)[1:] == (28_000, 12_001)


def test_a_payment_goes_to_the_oldest_invoice_and_a_replay_changes_nothing(
    admin_db: OneTransaction,
) -> None:
    rut = new_patient(admin_db)
    older, _, _ = invoice(admin_db, rut, 20_000)
    invoice(admin_db, rut, 15_000)
    payment_id, created = pay(admin_db, rut, 25_000, "pago-prueba-0001")
    assert created
    assert pay(admin_db, rut, 25_000, "pago-prueba-0001") == (payment_id, False)
    with pytest.raises(Conflict, match="otro pago distinto"):
        pay(admin_db, rut, 26_000, "pago-prueba-0001")
    balance = admin_db.read(lambda s: records.balance(s, rut=rut))
    assert (balance.billed, balance.paid, balance.outstanding) == (35_000, 25_000, 10_000)
    # The older invoice is paid in full, so it cannot be voided until refunded.
    with pytest.raises(Conflict, match="reembólselos"):
        admin_db.write(lambda s: records.void_invoice(s, number=older, reason="error").id)
    with pytest.raises(InvalidInput, match="excede"):
        pay(admin_db, rut, 10_001, "pago-prueba-0002")


def test_a_refund_never_exceeds_the_payment(admin_db: OneTransaction) -> None:
    rut = new_patient(admin_db)
    invoice(admin_db, rut, 12_000)
    payment_id, _ = pay(admin_db, rut, 12_000, "pago-prueba-0003")

    def refund(amount: int, key: str) -> int:
        data = RefundIn(amount=amount, reason="cobro doble")

        def work(session: Session) -> int:
            made, _ = records.refund(
                session,
                payment_id=payment_id,
                data=data,
                key=key,
                request_digest=records.digest(data.model_dump()),
                author="caja.prueba",
            )
            return made.amount

        return admin_db.write(work)

    assert refund(5_000, "devolucion-0001") == 5_000
    with pytest.raises(InvalidInput, match="excede lo disponible"):
        refund(7_001, "devolucion-0002")
    balance = admin_db.read(lambda s: records.balance(s, rut=rut))
    assert balance.outstanding == 5_000
