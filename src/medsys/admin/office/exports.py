"""CSV of the office's other lists (the reports have their own): patients found by a
search, pending charges, and a patient's invoices and payments. Same reads, same audit."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from medsys.admin import records, reports
from medsys.admin.office.pages import audited, audited_each, patient_rut
from medsys.admin.office.reports_page import csv_response
from medsys.admin.office.web import PREFIX, Accountant, person
from medsys.admin.present import invoice_json, payment_json
from medsys.core.auth import Caller

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def staff(request: Request) -> Caller:
    return person(request)


Staff = Annotated[Caller, Depends(staff)]


@router.get("/pacientes.csv")
def patients_csv(request: Request, caller: Staff, q: str = "") -> Response:
    text = q.strip()[:80]

    def read(session: Session) -> list[list[object]]:
        found = records.search_patients(session, text=text, ruts=[], page=1, per_page=100)
        audited_each(session, request, caller, [p.rut for p in found], "read")
        return [
            [p.rut, p.name, p.birth_date or "", p.sex or "", p.phone or "", p.email or ""]
            for p in found
        ]

    rows = request.app.state.database.write(read) if len(text) >= 2 else []
    header = ["rut", "nombre", "nacimiento", "sexo", "telefono", "correo"]
    return csv_response(reports.csv_text(header, rows), "pacientes.csv")


@router.get("/cargos.csv")
def charges_csv(request: Request, caller: Accountant) -> Response:
    pending = request.app.state.database.read(lambda s: records.pending_charges(s))
    rows = [
        [c.patient_rut, c.consultation_id, c.kind, c.description, c.amount if c.amount else ""]
        for c in pending
    ]
    header = ["rut", "consulta", "tipo", "detalle", "monto"]
    return csv_response(reports.csv_text(header, rows), "cargos-pendientes.csv")


@router.get("/pacientes/{rut}/movimientos.csv")
def movements_csv(request: Request, rut: str, caller: Accountant) -> Response:
    wanted = patient_rut(rut)

    def read(session: Session) -> list[list[object]]:
        records.patient(session, rut=wanted)
        audited(session, request, caller, wanted, "read", "payment")
        invoices = [invoice_json(session, i) for i in records.invoices_of(session, rut=wanted)]
        payments = [payment_json(p) for p in records.payments_of(session, rut=wanted)]
        return [
            *(
                ["factura", i["number"], i["issued_at"], i["status"], i["total"], i["copay"]]
                for i in invoices
            ),
            *(
                [
                    "pago" if m["kind"] == "payment" else "reembolso",
                    m["id"],
                    m["received_at"],
                    m["method"],
                    m["amount"],
                    "",
                ]
                for m in payments
            ),
        ]

    header = ["tipo", "numero", "fecha", "estado_o_medio", "monto", "copago"]
    rows = request.app.state.database.write(read)
    return csv_response(reports.csv_text(header, rows), f"movimientos-{wanted}.csv")
