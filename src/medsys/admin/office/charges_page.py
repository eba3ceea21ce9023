"""Charge capture for the accountant: the price list, bringing in the consultations clinical
closed since the last capture (through the middleware, acting for the accountant), the
pending charges, and an invoice per patient built from them with the copay rules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from medsys.admin import charges, records
from medsys.admin.office.money import amount_of
from medsys.admin.office.pages import audited, patient_rut
from medsys.admin.office.web import (
    PREFIX,
    Accountant,
    clinical,
    flash,
    form_of,
    render,
    submitted,
)
from medsys.core.errors import InvalidInput

router = APIRouter(prefix=PREFIX, include_in_schema=False)
PAGE = f"{PREFIX}/cargos"
# Consultations asked of clinical at a time, and at most this many times per click: a
# first capture after the cursor changed reads every closed consultation once.
CAPTURE_PAGE = 500
CAPTURE_PAGES = 40


@router.get("/cargos", response_class=HTMLResponse)
def charges_page(request: Request, caller: Accountant) -> HTMLResponse:
    def read(session: Session) -> dict[str, Any]:
        return {
            "prices": records.price_list(session),
            "pending": records.pending_charges(session),
            "last": records.last_closing_captured(session),
        }

    return render(request, "office_charges.html", **request.app.state.database.read(read))


@router.post("/cargos/precios", response_model=None)
async def set_price(request: Request, caller: Accountant) -> Response:
    form = await form_of(request)

    def work(session: Session) -> str:
        kind, name = form.get("tipo", ""), form.get("nombre", "").strip()
        amount = amount_of(form.get("monto", ""))
        if kind not in ("consultation", "procedure") or not name:
            raise InvalidInput("Indique si es consulta o procedimiento, y su nombre.")
        if not isinstance(amount, int) or not 0 < amount <= 100_000_000:
            raise InvalidInput("Monto: un número entero de pesos mayor que cero.")
        item = (
            charges.consultation_item(name)
            if kind == "consultation"
            else charges.procedure_item(name)
        )
        label = f"Consulta {name}" if kind == "consultation" else name
        records.set_price(
            session, item=item, kind=kind, description=label, amount=amount, author=caller.who
        )
        records.reprice_pending(session)
        return PAGE

    return submitted(request, caller, form, work, "Precio guardado.", PAGE)


@router.post("/cargos/traer", response_model=None)
async def bring_in(request: Request, caller: Accountant) -> Response:
    form = await form_of(request)

    def work(session: Session) -> str:
        prices = {p.item: p.amount for p in records.price_list(session)}
        since = charges.cursor_start(records.last_closing_captured(session))
        params: dict[str, Any] = {"after": 0, "limit": CAPTURE_PAGE}
        added, ruts = 0, set()
        for _ in range(CAPTURE_PAGES):
            if since is not None:
                params["closed_since"] = since.isoformat()
            closed = clinical(request, caller, "GET", "/api/billable", params=params)
            closed = closed["consultations"]
            items = [item for c in closed for item in charges.items_of(c, prices)]
            added += records.capture(session, items=items, author=caller.who)
            ruts |= {item.patient_rut for item in items}
            if len(closed) < CAPTURE_PAGE:
                break
            since = datetime.fromisoformat(closed[-1]["closed_at"])
            params["after"] = closed[-1]["consultation_id"]
        else:
            flash(request, "Quedan consultas cerradas por revisar: tráigalas otra vez.", "notice")
        for rut in sorted(ruts):
            audited(session, request, caller, rut, "create", "charge")
        return f"{PAGE}?traidos={added}"

    return submitted(request, caller, form, work, "Consultas cerradas revisadas.", PAGE)


@router.post("/pacientes/{rut}/facturar-cargos", response_model=None)
async def invoice_charges(request: Request, rut: str, caller: Accountant) -> Response:
    wanted = patient_rut(rut)
    form = await form_of(request)
    page = f"{PREFIX}/pacientes/{wanted}"

    def work(session: Session) -> str:
        issued = records.invoice_pending(session, rut=wanted)
        audited(session, request, caller, wanted, "create", "invoice")
        return f"{page}#factura-{issued.number}"

    return submitted(request, caller, form, work, "Factura emitida desde los cargos.", page)
