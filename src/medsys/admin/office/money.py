"""The accountant's side of a patient's page: invoices (issue, void), payments (cash,
card, transfer) and refunds, each form recorded once. The copay rules are billing's; the
ledger functions are the JSON API's."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from medsys.admin import records
from medsys.admin.office.pages import audited, patient_rut
from medsys.admin.office.web import PREFIX, Accountant, form_of, person, render, submitted
from medsys.admin.present import invoice_json, patient_json, payment_json
from medsys.admin.schemas import InvoiceIn, PaymentIn, RefundIn, VoidIn
from medsys.core.auth import Caller
from medsys.core.validation import validate

router = APIRouter(prefix=PREFIX, include_in_schema=False)
MAX_LINES = 3


def amount_of(text: str) -> Any:
    """Pesos as typed ('45.000' or '45000'); what does not parse is left for the schema."""
    cleaned = text.strip().replace(".", "").replace("$", "").replace(" ", "")
    with contextlib.suppress(ValueError):
        return int(cleaned)
    return text


@router.post("/pacientes/{rut}/facturas", response_model=None)
async def issue_invoice(request: Request, rut: str, caller: Accountant) -> Response:
    wanted = patient_rut(rut)
    form = await form_of(request)
    page = f"{PREFIX}/pacientes/{wanted}"

    def work(session: Session) -> str:
        lines = [
            {
                "kind": form.get(f"tipo{n}", "consultation"),
                "description": form.get(f"detalle{n}", "").strip(),
                "amount": amount_of(form.get(f"monto{n}", "")),
            }
            for n in range(1, MAX_LINES + 1)
            if form.get(f"detalle{n}", "").strip() or form.get(f"monto{n}", "").strip()
        ]
        data = validate(InvoiceIn, {"patient_rut": wanted, "lines": lines})
        issued = records.create_invoice(session, data=data)
        audited(session, request, caller, wanted, "create", "invoice")
        return f"{page}#factura-{issued.number}"

    return submitted(request, caller, form, work, "Factura emitida.", page)


@router.post("/facturas/{number}/anular", response_model=None)
async def void_invoice(request: Request, number: str, caller: Accountant) -> Response:
    form = await form_of(request)

    def work(session: Session) -> str:
        reason = validate(VoidIn, {"reason": form.get("motivo", "")}).reason
        voided = records.void_invoice(session, number=number, reason=reason)
        audited(session, request, caller, voided.patient_rut, "void", "invoice")
        return f"{PREFIX}/pacientes/{voided.patient_rut}"

    return submitted(request, caller, form, work, "Factura anulada.", f"{PREFIX}/pacientes")


@router.post("/pacientes/{rut}/pagos", response_model=None)
async def pay(request: Request, rut: str, caller: Accountant) -> Response:
    wanted = patient_rut(rut)
    form = await form_of(request)
    page = f"{PREFIX}/pacientes/{wanted}"
    key = form.get("idempotency_key", "")

    def work(session: Session) -> str:
        amount = amount_of(form.get("monto", ""))
        given: dict[str, Any] = {
            "patient_rut": wanted,
            "amount": amount,
            "method": form.get("medio", ""),
        }
        if form.get("factura"):
            given["allocations"] = [{"invoice": form["factura"], "amount": amount}]
        data = validate(PaymentIn, given)
        digest = records.digest(data.model_dump())
        records.record_payment(
            session, data=data, key=key, request_digest=digest, author=caller.who
        )
        audited(session, request, caller, wanted, "create", "payment")
        return page

    return submitted(request, caller, form, work, "Pago registrado.", page)


@router.post("/pagos/{payment_id}/reembolso", response_model=None)
async def refund(request: Request, payment_id: int, caller: Accountant) -> Response:
    form = await form_of(request)
    key = form.get("idempotency_key", "")

    def work(session: Session) -> str:
        data = validate(
            RefundIn, {"amount": amount_of(form.get("monto", "")), "reason": form.get("motivo", "")}
        )
        digest = records.digest({"refund_of": payment_id, **data.model_dump()})
        given, _ = records.refund(
            session,
            payment_id=payment_id,
            data=data,
            key=key,
            request_digest=digest,
            author=caller.who,
        )
        audited(session, request, caller, given.patient_rut, "refund", "payment")
        return f"{PREFIX}/pacientes/{given.patient_rut}"

    return submitted(request, caller, form, work, "Reembolso registrado.", f"{PREFIX}/pacientes")


def staff(request: Request) -> Caller:
    return person(request)


@router.get("/facturas/{number}", response_class=HTMLResponse)
def printable_invoice(
    request: Request, number: str, caller: Annotated[Caller, Depends(staff)]
) -> HTMLResponse:
    """The invoice and what was paid on it, as a print-ready page (the browser prints it or
    saves it as PDF; no PDF library to keep up)."""

    def read(session: Session) -> dict[str, Any]:
        found = records.invoice(session, number=number)
        audited(session, request, caller, found.patient_rut, "read", "invoice")
        payments = [
            payment_json(p)
            for p in records.payments_of(session, rut=found.patient_rut)
            if any(a.invoice_id == found.id for a in p.allocations)
        ]
        return {
            "invoice": invoice_json(session, found),
            "patient": patient_json(records.patient(session, rut=found.patient_rut)),
            "payments": payments,
        }

    return render(request, "office_invoice.html", **request.app.state.database.write(read))
