"""Invoices and payments (the seed's `/invoices/<rut>`, `/payments/<rut>`, `POST /invoices`,
`POST /payments`). Accountants issue and void; a payment needs an Idempotency-Key, so a
retried or double-clicked payment is recorded once."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from medsys.admin import records
from medsys.admin.deps import (
    Accountant,
    DatabaseDep,
    IdempotencyKey,
    Payer,
    Reader,
    RequestId,
    audit_refusal,
)
from medsys.admin.present import invoice_json, payment_json
from medsys.admin.schemas import InvoiceIn, PaymentIn, RefundIn, VoidIn
from medsys.core.admin_answers import InvoiceOut, PaymentOut
from medsys.core.api_docs import AUTHENTICATED, PatientRut
from medsys.core.auth import Caller, audit_access
from medsys.core.db import Database
from medsys.core.errors import Conflict, Forbidden
from medsys.core.request_parts import rut_of

router = APIRouter(tags=["billing"], responses=AUTHENTICATED)
# The same Idempotency-Key again: the first answer, with 200.
REPLAYED: dict[int | str, dict[str, Any]] = {
    200: {"model": PaymentOut, "description": "Ya registrado con esta Idempotency-Key."}
}


def _audit(
    session: Session, caller: Caller, request_id: str, rut: str, action: str, what: str
) -> None:
    audit_access(
        session, caller, action=action, resource=what, patient_rut=rut, request_id=request_id
    )


@router.post("/invoices", status_code=201, response_model=InvoiceOut)
def issue_invoice(
    data: InvoiceIn, database: DatabaseDep, caller: Accountant, request_id: RequestId
) -> dict[str, Any]:
    """Line items priced in CLP; the insurer's share and the copay come from the coverage."""

    def work(session: Session) -> dict[str, Any]:
        created = records.create_invoice(session, data=data)
        _audit(session, caller, request_id, data.patient_rut, "create", "invoice")
        return invoice_json(session, created)

    return database.write(work)


@router.get("/invoices/{rut}", response_model=list[InvoiceOut])
def patient_invoices(
    rut: PatientRut, database: DatabaseDep, caller: Reader, request_id: RequestId
) -> list[dict[str, Any]]:
    wanted = rut_of(rut)

    def work(session: Session) -> list[dict[str, Any]]:
        records.patient(session, rut=wanted)
        _audit(session, caller, request_id, wanted, "read", "invoice")
        return [invoice_json(session, i) for i in records.invoices_of(session, rut=wanted)]

    return database.write(work)


@router.post("/invoices/{number}/void", response_model=InvoiceOut)
def void_invoice(
    number: str, data: VoidIn, database: DatabaseDep, caller: Accountant, request_id: RequestId
) -> dict[str, Any]:
    def work(session: Session) -> dict[str, Any]:
        voided = records.void_invoice(session, number=number, reason=data.reason)
        _audit(session, caller, request_id, voided.patient_rut, "void", "invoice")
        return invoice_json(session, voided)

    return database.write(work)


def _idempotent(
    database: Database, key: str, digest: str, work: Any, response: Response
) -> dict[str, Any]:
    """Run ``work`` once per key: it returns (answer, created). A replay, or a concurrent
    twin that lost the race for the unique key, gets the first answer with 200 instead of
    201; a key reused for a different request gets 409."""

    def earlier(session: Session) -> dict[str, Any] | None:
        found = records.payment_by_key(session, key=key)
        return payment_json(records.replay(found, digest)) if found else None

    try:
        answer, created = database.write(work)
    except IntegrityError:
        answer, created = database.read(earlier), False
    if answer is None:
        raise Conflict("El pago no pudo registrarse; reintente con la misma clave.")
    if not created:
        response.status_code = 200
    return dict(answer)


@router.post("/payments", status_code=201, response_model=PaymentOut, responses=REPLAYED)
def record_payment(
    data: PaymentIn,
    request: Request,
    database: DatabaseDep,
    caller: Payer,
    request_id: RequestId,
    key: IdempotencyKey,
    response: Response,
) -> dict[str, Any]:
    """A payment allocated to invoices (or to the oldest unpaid ones when none are named)."""
    if not caller.may_reach(data.patient_rut):
        refusal = Forbidden("Solo puede pagar cuentas propias.")
        audit_refusal(request, data.patient_rut, refusal)
        raise refusal
    digest = records.digest(data.model_dump())

    def work(session: Session) -> tuple[dict[str, Any], bool]:
        paid, created = records.record_payment(
            session, data=data, key=key, request_digest=digest, author=caller.who
        )
        if created:
            _audit(session, caller, request_id, data.patient_rut, "create", "payment")
        return payment_json(paid), created

    return _idempotent(database, key, digest, work, response)


@router.get("/payments/{rut}", response_model=list[PaymentOut])
def patient_payments(
    rut: PatientRut, database: DatabaseDep, caller: Reader, request_id: RequestId
) -> list[dict[str, Any]]:
    wanted = rut_of(rut)

    def work(session: Session) -> list[dict[str, Any]]:
        records.patient(session, rut=wanted)
        _audit(session, caller, request_id, wanted, "read", "payment")
        return [payment_json(p) for p in records.payments_of(session, rut=wanted)]

    return database.write(work)


@router.post(
    "/payments/{payment_id}/refund", status_code=201, response_model=PaymentOut, responses=REPLAYED
)
def refund(
    payment_id: int,
    data: RefundIn,
    database: DatabaseDep,
    caller: Accountant,
    request_id: RequestId,
    key: IdempotencyKey,
    response: Response,
) -> dict[str, Any]:
    digest = records.digest({"refund_of": payment_id, **data.model_dump()})

    def work(session: Session) -> tuple[dict[str, Any], bool]:
        given, created = records.refund(
            session,
            payment_id=payment_id,
            data=data,
            key=key,
            request_digest=digest,
            author=caller.who,
        )
        if created:
            _audit(session, caller, request_id, given.patient_rut, "refund", "payment")
        return payment_json(given), created

    return _idempotent(database, key, digest, work, response)
