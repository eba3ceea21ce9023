"""Admin data functions: keyword-only, a Session in, rows or MedsysError out."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import cast

from sqlalchemy import Table, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from medsys.admin import billing, charges
from medsys.admin.models import (
    Allocation,
    Charge,
    Coverage,
    Invoice,
    InvoiceLine,
    Patient,
    Payment,
    Price,
)
from medsys.admin.schemas import (
    CoverageIn,
    InvoiceIn,
    LineIn,
    PatientIn,
    PatientPatch,
    PaymentIn,
    RefundIn,
)
from medsys.core.clock import SANTIAGO, utc_now
from medsys.core.errors import Conflict, InvalidInput, NotFound
from medsys.core.text_search import FOLD_FROM, FOLD_TO, search_words
from medsys.core.validation import LIKE_ESCAPE, contains_pattern

# --- patients and coverage ------------------------------------------------------------------
# A patient and their coverage are read for every history page: statements built once
# (see clinical.records for the measured saving).
_PATIENT_BY_RUT = select(Patient).where(Patient.rut == bindparam("rut"))
_COVERAGES_ON = (
    select(Coverage)
    .where(
        Coverage.patient_rut.in_(bindparam("ruts", expanding=True)),
        Coverage.valid_from <= bindparam("day"),
        or_(Coverage.valid_to.is_(None), Coverage.valid_to >= bindparam("day")),
    )
    .order_by(Coverage.valid_from.desc(), Coverage.id.desc())
)


def patient(session: Session, *, rut: str) -> Patient:
    found = session.scalar(_PATIENT_BY_RUT, {"rut": rut})
    if found is None:
        raise NotFound(f"No existe un paciente con RUT {rut}.")
    return found


def create_patient(session: Session, *, data: PatientIn) -> Patient:
    if session.scalar(select(Patient.id).where(Patient.rut == data.rut)) is not None:
        raise Conflict(f"Ya existe un paciente con RUT {data.rut}.")
    created = Patient(
        rut=data.rut,
        name=data.nombre,
        email=data.email,
        phone=data.telefono,
        address=data.direccion,
        birth_date=data.fecha_nacimiento,
        sex=data.sexo,
        emergency_name=data.contacto_emergencia,
        emergency_phone=data.telefono_emergencia,
    )
    session.add(created)
    session.flush()
    return created


def update_patient(session: Session, *, rut: str, change: PatientPatch) -> Patient:
    found = patient(session, rut=rut)
    fields = change.model_dump(exclude_unset=True)
    mapping = {
        "nombre": "name",
        "email": "email",
        "telefono": "phone",
        "direccion": "address",
        "fecha_nacimiento": "birth_date",
        "sexo": "sex",
        "contacto_emergencia": "emergency_name",
        "telefono_emergencia": "emergency_phone",
    }
    for key, value in fields.items():
        setattr(found, mapping[key], value)
    found.updated_at = utc_now()
    return found


def search_patients(
    session: Session, *, text: str | None, ruts: list[str], page: int, per_page: int
) -> list[Patient]:
    query = select(Patient)
    if ruts:
        query = query.where(Patient.rut.in_(ruts))
    # Every word typed, anywhere in the name or the RUT, case and accents ignored.
    words = search_words(text or "")
    if text and text.strip() and not words:
        return []  # only accents or punctuation typed: no word, so no one
    folded_name = func.translate(func.lower(Patient.name), FOLD_FROM, FOLD_TO)
    for word in words:
        pattern = contains_pattern(word)
        query = query.where(
            or_(
                folded_name.like(pattern, escape=LIKE_ESCAPE),
                func.lower(Patient.rut).like(pattern, escape=LIKE_ESCAPE),
            )
        )
    query = query.order_by(Patient.name, Patient.id).offset((page - 1) * per_page).limit(per_page)
    return list(session.scalars(query))


def add_coverage(session: Session, *, rut: str, data: CoverageIn) -> Coverage:
    patient(session, rut=rut)
    added = Coverage(patient_rut=rut, **data.model_dump())
    session.add(added)
    session.flush()
    return added


def current_coverage(session: Session, *, rut: str, on: date | None = None) -> Coverage | None:
    return current_coverages(session, ruts=[rut], on=on).get(rut)


def current_coverages(
    session: Session, *, ruts: Sequence[str], on: date | None = None
) -> dict[str, Coverage]:
    """Each patient's coverage valid on the day (today in Chile), the latest begun: one
    query for a whole list of patients."""
    if not ruts:
        return {}
    today = on or utc_now().astimezone(SANTIAGO).date()
    current: dict[str, Coverage] = {}
    for coverage in session.scalars(_COVERAGES_ON, {"ruts": list(ruts), "day": today}):
        current.setdefault(coverage.patient_rut, coverage)
    return current


def as_rule(coverage: Coverage | None) -> billing.Coverage:
    if coverage is None:
        return billing.PARTICULAR
    return billing.Coverage(
        insurer=billing.Insurer(coverage.insurer),
        tramo=billing.FonasaTramo(coverage.tramo) if coverage.tramo else None,
        modality=billing.Modality(coverage.modality) if coverage.modality else None,
        percent=coverage.percent,
    )


# --- invoices -------------------------------------------------------------------------------
def allocated(session: Session, *, invoice_id: int) -> int:
    total = session.scalar(
        select(func.coalesce(func.sum(Allocation.amount), 0)).where(
            Allocation.invoice_id == invoice_id
        )
    )
    return int(total or 0)


def allocated_by_invoice(session: Session, *, rut: str) -> dict[int, int]:
    """What was paid (net of refunds) on each of a patient's invoices, in one query."""
    rows = session.execute(
        select(Allocation.invoice_id, func.sum(Allocation.amount))
        .join(Invoice, Invoice.id == Allocation.invoice_id)
        .where(Invoice.patient_rut == rut)
        .group_by(Allocation.invoice_id)
    )
    return {int(invoice_id): int(total) for invoice_id, total in rows}


def create_invoice(session: Session, *, data: InvoiceIn) -> Invoice:
    patient(session, rut=data.patient_rut)
    rule = as_rule(current_coverage(session, rut=data.patient_rut))
    try:
        shares, total = billing.split_lines([line.amount for line in data.lines], rule)
    except billing.CoverageRuleError as error:
        raise InvalidInput(str(error)) from None
    invoice = Invoice(
        number="pending",
        patient_rut=data.patient_rut,
        coverage_text=rule.describe(),
        total=total.insurer + total.patient,
        insurer_share=total.insurer,
        copay=total.patient,
    )
    session.add(invoice)
    session.flush()
    invoice.number = f"F-{invoice.id:06d}"
    for line, share in zip(data.lines, shares, strict=True):
        session.add(
            InvoiceLine(
                invoice_id=invoice.id,
                kind=line.kind,
                description=line.description,
                amount=line.amount,
                insurer_share=share.insurer,
                copay=share.patient,
            )
        )
    session.flush()
    session.refresh(invoice)
    return invoice


def invoice(session: Session, *, number: str, lock: bool = False) -> Invoice:
    query = select(Invoice).where(Invoice.number == number)
    found = session.scalar(query.with_for_update() if lock else query)
    if found is None:
        raise NotFound(f"No existe la factura {number}.")
    return found


def invoices_of(session: Session, *, rut: str) -> list[Invoice]:
    query = (
        select(Invoice).where(Invoice.patient_rut == rut).order_by(Invoice.issued_at, Invoice.id)
    )
    return list(session.scalars(query))


def void_invoice(session: Session, *, number: str, reason: str) -> Invoice:
    found = invoice(session, number=number, lock=True)
    if found.voided:
        return found
    if allocated(session, invoice_id=found.id):
        raise Conflict("La factura tiene pagos asignados: reembólselos antes de anularla.")
    found.voided = True
    found.void_reason = reason
    return found


@dataclass(frozen=True)
class Balance:
    billed: int
    paid: int

    @property
    def outstanding(self) -> int:
        return self.billed - self.paid


def balance(session: Session, *, rut: str) -> Balance:
    paid_on = allocated_by_invoice(session, rut=rut)
    open_invoices = [i for i in invoices_of(session, rut=rut) if not i.voided]
    billed = sum(i.copay for i in open_invoices)
    paid = sum(paid_on.get(i.id, 0) for i in open_invoices)
    return Balance(billed=billed, paid=paid)


# --- payments and refunds -------------------------------------------------------------------
def digest(payload: object) -> str:
    """What a request asked for, to tell a retry (same) from a key reused (different)."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def payment_by_key(session: Session, *, key: str) -> Payment | None:
    return session.scalar(select(Payment).where(Payment.idempotency_key == key))


def replay(existing: Payment, request_digest: str) -> Payment:
    if existing.request_digest != request_digest:
        raise Conflict("Esa clave de idempotencia ya se usó para otro pago distinto.")
    return existing


def _plan_allocations(session: Session, data: PaymentIn) -> list[tuple[Invoice, int]]:
    if data.allocations is not None:
        wanted = [
            (invoice(session, number=a.invoice, lock=True), a.amount) for a in data.allocations
        ]
    else:
        remaining, wanted = data.amount, []
        for candidate in invoices_of(session, rut=data.patient_rut):
            owed = candidate.copay - allocated(session, invoice_id=candidate.id)
            if candidate.voided or owed <= 0 or remaining == 0:
                continue
            locked = invoice(session, number=candidate.number, lock=True)
            wanted.append((locked, min(owed, remaining)))
            remaining -= min(owed, remaining)
        if remaining:
            raise InvalidInput(
                f"El pago excede la deuda del paciente en {billing.pesos(remaining)}."
            )
    for target, amount in wanted:
        if target.patient_rut != data.patient_rut:
            raise InvalidInput(f"La factura {target.number} no es de este paciente.")
        if target.voided:
            raise Conflict(f"La factura {target.number} está anulada: no se puede pagar.")
        owed = target.copay - allocated(session, invoice_id=target.id)
        if amount > owed:
            raise InvalidInput(
                f"El pago excede lo adeudado en la factura {target.number} "
                f"(adeudado: {billing.pesos(owed)})."
            )
    return wanted


def record_payment(
    session: Session, *, data: PaymentIn, key: str, request_digest: str, author: str
) -> tuple[Payment, bool]:
    """The payment, and whether this call created it (False: a replay of ``key``)."""
    existing = payment_by_key(session, key=key)
    if existing is not None:
        return replay(existing, request_digest), False
    patient(session, rut=data.patient_rut)
    plan = _plan_allocations(session, data)
    payment = Payment(
        patient_rut=data.patient_rut,
        kind="payment",
        amount=data.amount,
        method=data.method,
        idempotency_key=key,
        request_digest=request_digest,
        recorded_by=author,
    )
    session.add(payment)
    session.flush()
    session.add_all(
        Allocation(payment_id=payment.id, invoice_id=target.id, amount=amount)
        for target, amount in plan
    )
    session.flush()
    session.refresh(payment)
    return payment, True


def payments_of(session: Session, *, rut: str) -> list[Payment]:
    query = (
        select(Payment).where(Payment.patient_rut == rut).order_by(Payment.received_at, Payment.id)
    )
    return list(session.scalars(query))


def refund(
    session: Session, *, payment_id: int, data: RefundIn, key: str, request_digest: str, author: str
) -> tuple[Payment, bool]:
    existing = payment_by_key(session, key=key)
    if existing is not None:
        return replay(existing, request_digest), False
    original = session.get(Payment, payment_id, with_for_update=True)
    if original is None or original.kind != "payment":
        raise NotFound(f"No existe el pago {payment_id}.")
    refunded = sum(
        r.amount for r in session.scalars(select(Payment).where(Payment.refund_of == payment_id))
    )
    available = original.amount - refunded
    if data.amount > available:
        raise InvalidInput(
            f"El reembolso excede lo disponible del pago ({billing.pesos(available)})."
        )
    given_back = Payment(
        patient_rut=original.patient_rut,
        kind="refund",
        amount=data.amount,
        method=original.method,
        idempotency_key=key,
        request_digest=request_digest,
        refund_of=original.id,
        note=data.reason,
        recorded_by=author,
    )
    session.add(given_back)
    session.flush()
    remaining = data.amount
    for allocation in reversed(original.allocations):  # the last invoices paid go first
        net = allocated(session, invoice_id=allocation.invoice_id)
        take = min(remaining, allocation.amount, net)
        if take > 0:
            session.add(
                Allocation(payment_id=given_back.id, invoice_id=allocation.invoice_id, amount=-take)
            )
            remaining -= take
    session.flush()
    session.refresh(given_back)
    return given_back, True


# --- ledger rows for the reports (medsys.admin.reports) ------------------------------------
def movements_between(session: Session, *, start: datetime, end: datetime) -> list[Payment]:
    query = select(Payment).where(Payment.received_at >= start, Payment.received_at < end)
    return list(session.scalars(query.order_by(Payment.received_at, Payment.id)))


def open_invoices(session: Session) -> list[tuple[Invoice, int]]:
    """Every invoice not void, with what has been allocated to it (net of refunds)."""
    paid = dict(
        session.execute(
            select(Allocation.invoice_id, func.coalesce(func.sum(Allocation.amount), 0)).group_by(
                Allocation.invoice_id
            )
        ).all()
    )
    invoices = session.scalars(select(Invoice).where(Invoice.voided.is_(False)))
    return [(invoice, int(paid.get(invoice.id, 0))) for invoice in invoices]


def invoices_since(session: Session, *, start: datetime) -> list[Invoice]:
    return list(session.scalars(select(Invoice).where(Invoice.issued_at >= start)))


# --- charge capture -------------------------------------------------------------------------
def price_list(session: Session) -> list[Price]:
    return list(session.scalars(select(Price).order_by(Price.kind, Price.description)))


def set_price(
    session: Session, *, item: str, kind: str, description: str, amount: int, author: str
) -> Price:
    found = session.scalar(select(Price).where(Price.item == item))
    if found is None:
        found = Price(item=item, kind=kind, description=description, amount=amount)
        session.add(found)
    found.amount, found.description = amount, description
    found.updated_by, found.updated_at = author, utc_now()
    session.flush()
    return found


def last_closing_captured(session: Session) -> datetime | None:
    last: datetime | None = session.scalar(select(func.max(Charge.closed_at)))
    return last


def capture(session: Session, *, items: list[charges.Item], author: str) -> int:
    """Charges for items not captured before (the pair consultation–item is unique).

    ``ON CONFLICT DO NOTHING`` rather than looking first: two accountants bringing in the
    same closed consultations at once both found them new, and the second's commit failed
    on the unique pair with an error page. Now the second waits for the first's rows and
    skips them; the count is what this call really added."""
    # Charges captured before the cursor was the closing time learn theirs as they are
    # read again, so the cursor moves past them.
    closings = {i.consultation_id: i.closed_at for i in items if i.closed_at is not None}
    if closings:
        table = cast(Table, Charge.__table__)  # Core: one statement for many rows
        session.execute(
            update(table)
            .where(table.c.consultation_id == bindparam("cid"), table.c.closed_at.is_(None))
            .values(closed_at=bindparam("closed")),
            [{"cid": cid, "closed": closed} for cid, closed in closings.items()],
        )
    if not items:
        return 0
    now = utc_now()
    added = session.scalars(
        postgresql.insert(cast(Table, Charge.__table__))
        .values(
            [
                {
                    "consultation_id": item.consultation_id,
                    "item": item.item,
                    "patient_rut": item.patient_rut,
                    "kind": item.kind,
                    "description": item.description,
                    "amount": item.amount,
                    "captured_by": author,
                    "captured_at": now,
                    "closed_at": item.closed_at,
                }
                for item in items
            ]
        )
        .on_conflict_do_nothing(constraint="uq_charge_consultation_item")
        .returning(Charge.__table__.c.id)
    ).all()
    return len(added)


def pending_charges(
    session: Session, *, rut: str | None = None, to_invoice: bool = False
) -> list[Charge]:
    """``to_invoice``: locked until the transaction ends. Two accountants invoicing one
    patient at once each read the same pending charges, and both invoices were issued;
    now the second waits, and then finds them invoiced (PostgreSQL reads a locked row
    again once it is free, and it no longer matches)."""
    query = select(Charge).where(Charge.invoice_number.is_(None))
    if rut:
        query = query.where(Charge.patient_rut == rut)
    query = query.order_by(Charge.consultation_id, Charge.id)
    if to_invoice:
        query = query.with_for_update()
    return list(session.scalars(query))


def reprice_pending(session: Session) -> None:
    """Pending charges with no price take the list's, once the accountant sets it."""
    prices = {p.item: p.amount for p in price_list(session)}
    for charge in pending_charges(session):
        if charge.amount is None and charge.item in prices:
            charge.amount = prices[charge.item]


def invoice_pending(session: Session, *, rut: str) -> Invoice:
    """One invoice from the patient's priced pending charges, with the copay rules."""
    pending = pending_charges(session, rut=rut, to_invoice=True)
    ready = [c for c in pending if c.amount is not None]
    if not ready:
        raise InvalidInput("El paciente no tiene cargos pendientes con precio.")
    issued = create_invoice(
        session,
        data=InvoiceIn(
            patient_rut=rut,
            lines=[
                LineIn.model_validate(
                    {"kind": c.kind, "description": c.description, "amount": c.amount}
                )
                for c in ready
            ],
        ),
    )
    for charge in ready:
        charge.invoice_number = issued.number
    return issued
