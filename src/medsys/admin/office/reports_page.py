"""The accountant's reports as pages and CSV files: the day's cash closing, receivables
aging, and monthly income by insurer with a chart. Figures from ``medsys.admin.reports``."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from html import escape
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from medsys.admin import records, reports
from medsys.admin.office.web import PREFIX, Accountant, render
from medsys.core.auth import Caller, audit_access
from medsys.core.clock import SANTIAGO
from medsys.core.errors import InvalidInput

router = APIRouter(prefix=PREFIX, include_in_schema=False)
MONTHS = 12


def _day(text: str) -> date:
    if not text:
        return datetime.now(SANTIAGO).date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput("Fecha inválida: use AAAA-MM-DD.") from None


def _start(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=SANTIAGO)


def closing(session: Session, day: date) -> list[reports.ClosingRow]:
    rows = records.movements_between(session, start=_start(day), end=_start(day + timedelta(1)))
    return reports.cash_closing(
        (
            reports.Movement(
                p.kind, p.amount, p.method, p.recorded_by, p.received_at.astimezone(SANTIAGO).date()
            )
            for p in rows
        ),
        day,
    )


def receivables(session: Session) -> list[reports.Receivable]:
    return [
        reports.Receivable(
            invoice.patient_rut,
            invoice.number,
            invoice.issued_at.astimezone(SANTIAGO).date(),
            invoice.copay - paid,
        )
        for invoice, paid in records.open_invoices(session)
    ]


def income(session: Session, today: date) -> list[tuple[str, str, int, int]]:
    first = (today.replace(day=1) - timedelta(days=31 * (MONTHS - 1))).replace(day=1)
    return reports.income_by_insurer(
        reports.Billed(
            invoice.issued_at.astimezone(SANTIAGO).strftime("%Y-%m"),
            invoice.coverage_text,
            invoice.insurer_share,
            invoice.copay,
            invoice.voided,
        )
        for invoice in records.invoices_since(session, start=_start(first))
    )


def _audited(session: Session, request: Request, caller: Caller, what: str) -> None:
    """A report reads many patients' money: one audit row names the report and its reader."""
    audit_access(
        session,
        caller,
        action="read",
        resource=f"report-{what}",
        patient_rut=None,
        request_id=getattr(request.state, "request_id", None),
    )


def income_chart(rows: list[tuple[str, str, int, int]]) -> str:
    """Horizontal bars per month and insurer (insurer's share + copay), as SVG text."""
    if not rows:
        return "<p>Sin facturas en el período.</p>"
    width, label, bar_height = 640, 190, 18
    largest = max(share + copay for _, _, share, copay in rows) or 1
    height = 10 + len(rows) * (bar_height + 6)
    bars = []
    for index, (month, insurer, share, copay) in enumerate(rows):
        y = 6 + index * (bar_height + 6)
        total = share + copay
        length = (width - label - 90) * total / largest
        bars.append(
            f'<text x="0" y="{y + 13}" font-size="12">{escape(month)} {escape(insurer)}</text>'
            f'<rect x="{label}" y="{y}" width="{length:.1f}" height="{bar_height}" fill="#0b5cad"/>'
            f'<text x="{label + length + 6:.1f}" y="{y + 13}" font-size="12">'
            f"${total:,.0f}</text>".replace(",", ".")
        )
    described = "; ".join(f"{m} {i}: {s + c} pesos" for m, i, s, c in rows)
    return (
        f'<svg role="img" aria-label="Ingresos por previsión. {escape(described)}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg">{"".join(bars)}</svg>'
    )


@router.get("/informes", response_class=HTMLResponse)
def reports_page(request: Request, caller: Accountant, dia: str = "") -> HTMLResponse:
    day = _day(dia)
    today = datetime.now(SANTIAGO).date()

    def read(session: Session) -> dict[str, Any]:
        _audited(session, request, caller, "all")
        owed = reports.aging(receivables(session), today)
        return {
            "closing": closing(session, day),
            "owed": owed,
            "owed_totals": reports.aging_totals(owed),
            "income": income(session, today),
        }

    seen = request.app.state.database.write(read)
    return render(
        request,
        "office_reports.html",
        day=day.isoformat(),
        buckets=reports.BUCKETS,
        chart=income_chart(seen["income"]),
        **seen,
    )


def csv_response(text: str, name: str) -> Response:
    return Response(
        text.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/informes/caja.csv")
def closing_csv(request: Request, caller: Accountant, dia: str = "") -> Response:
    day = _day(dia)

    def read(session: Session) -> list[reports.ClosingRow]:
        _audited(session, request, caller, "cash-closing")
        return closing(session, day)

    rows = request.app.state.database.write(read)
    return csv_response(
        reports.csv_text(
            ["fecha", "medio", "registrado_por", "recibido", "reembolsado", "neto"],
            [
                (day.isoformat(), r.method, r.recorded_by, r.received, r.refunded, r.net)
                for r in rows
            ],
        ),
        f"cierre-caja-{day.isoformat()}.csv",
    )


@router.get("/informes/morosidad.csv")
def aging_csv(request: Request, caller: Accountant) -> Response:
    today = datetime.now(SANTIAGO).date()

    def read(session: Session) -> dict[str, dict[str, int]]:
        _audited(session, request, caller, "aging")
        return reports.aging(receivables(session), today)

    owed = request.app.state.database.write(read)
    return csv_response(
        reports.csv_text(
            ["rut", *reports.BUCKETS],
            [(rut, *(row[b] for b in reports.BUCKETS)) for rut, row in owed.items()],
        ),
        f"morosidad-{today.isoformat()}.csv",
    )


@router.get("/informes/ingresos.csv")
def income_csv(request: Request, caller: Accountant) -> Response:
    today = datetime.now(SANTIAGO).date()

    def read(session: Session) -> list[tuple[str, str, int, int]]:
        _audited(session, request, caller, "income")
        return income(session, today)

    return csv_response(
        reports.csv_text(
            ["mes", "prevision", "aporte_prevision", "copago"],
            request.app.state.database.write(read),
        ),
        f"ingresos-por-prevision-{today.isoformat()}.csv",
    )
