"""Records as JSON. Patients keep the seed's Spanish keys; money is integer CLP."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from medsys.admin import billing, records
from medsys.admin.models import Coverage, Invoice, Patient, Payment
from medsys.core.clock import local_iso


def patient_json(patient: Patient) -> dict[str, Any]:
    return {
        "rut": patient.rut,
        "nombre": patient.name,
        "email": patient.email,
        "telefono": patient.phone,
        "direccion": patient.address,
        "fecha_nacimiento": patient.birth_date.isoformat() if patient.birth_date else None,
        "sexo": patient.sex,
        "contacto_emergencia": patient.emergency_name,
        "telefono_emergencia": patient.emergency_phone,
        "creado": local_iso(patient.created_at),
    }


def patients_with_coverage(session: Session, found: list[Patient]) -> list[dict[str, Any]]:
    """A list of patients as answered, each with the coverage valid today (one query)."""
    coverages = records.current_coverages(session, ruts=[p.rut for p in found])
    return [{**patient_json(p), "coverage": coverage_json(coverages.get(p.rut))} for p in found]


def coverage_json(coverage: Coverage | None) -> dict[str, Any] | None:
    if coverage is None:
        return None
    return {
        "insurer": coverage.insurer,
        "tramo": coverage.tramo,
        "modality": coverage.modality,
        "plan": coverage.plan,
        "percent": coverage.percent,
        "valid_from": coverage.valid_from.isoformat(),
        "valid_to": coverage.valid_to.isoformat() if coverage.valid_to else None,
        "description": records.as_rule(coverage).describe(),
    }


def invoice_json(session: Session, invoice: Invoice, paid: int | None = None) -> dict[str, Any]:
    """``paid``: the invoice's net allocations when the caller already has them."""
    if paid is None:
        paid = records.allocated(session, invoice_id=invoice.id)
    return {
        "number": invoice.number,
        "patient_rut": invoice.patient_rut,
        "issued_at": local_iso(invoice.issued_at),
        "coverage": invoice.coverage_text,
        "total": invoice.total,
        "insurer_share": invoice.insurer_share,
        "copay": invoice.copay,
        "paid": paid,
        "outstanding": 0 if invoice.voided else invoice.copay - paid,
        "status": billing.invoice_status(invoice.copay, paid, invoice.voided),
        "void_reason": invoice.void_reason,
        "lines": [
            {
                "kind": line.kind,
                "description": line.description,
                "amount": line.amount,
                "insurer_share": line.insurer_share,
                "copay": line.copay,
            }
            for line in invoice.lines
        ],
    }


def payment_json(payment: Payment) -> dict[str, Any]:
    return {
        "id": payment.id,
        "patient_rut": payment.patient_rut,
        "kind": payment.kind,
        "amount": payment.amount,
        "method": payment.method,
        "received_at": local_iso(payment.received_at),
        "refund_of": payment.refund_of,
        "note": payment.note,
        "allocations": [
            {"invoice": allocation.invoice.number, "amount": allocation.amount}
            for allocation in payment.allocations
        ],
    }


def summary_json(session: Session, rut: str) -> dict[str, Any]:
    """Demographics, current coverage, invoices and balance: what the middleware shows a
    patient and what the office page opens with."""
    balance = records.balance(session, rut=rut)
    paid_on = records.allocated_by_invoice(session, rut=rut)
    return {
        "patient": patient_json(records.patient(session, rut=rut)),
        "coverage": coverage_json(records.current_coverage(session, rut=rut)),
        "invoices": [
            invoice_json(session, i, paid_on.get(i.id, 0))
            for i in records.invoices_of(session, rut=rut)
        ],
        "balance": {
            "billed": balance.billed,
            "paid": balance.paid,
            "outstanding": balance.outstanding,
        },
    }
