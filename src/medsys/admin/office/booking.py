"""Booking by phone: a clerk finds a free slot and reserves it for the patient on the line,
through the middleware and the same slot reservation the portal uses (one conditional
UPDATE in clinical, so two bookings of a slot never both win). The reservation key is the
form's own idempotency key: a resent form reserves the same slot again harmlessly and finds
its record here; cancelling releases the slot with that key. Moving is booking the new
slot, then cancelling the old one, in one form."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from medsys.admin import records
from medsys.admin.models import PhoneBooking
from medsys.admin.office.pages import audited, patient_rut
from medsys.admin.office.web import PREFIX, clinical, form_of, person, render, submitted
from medsys.core.auth import Caller
from medsys.core.clock import utc_now
from medsys.core.errors import NotFound
from medsys.core.tokens import Role

router = APIRouter(prefix=PREFIX, include_in_schema=False)
SPECIALTIES = ["Medicina General", "Pediatría", "Traumatología", "Cardiología"]


def clerk(request: Request) -> Caller:
    return person(request, Role.CLERK)


Clerk = Annotated[Caller, Depends(clerk)]


@router.get("/pacientes/{rut}/agendar", response_class=HTMLResponse)
def find_slots(
    request: Request,
    rut: str,
    caller: Clerk,
    especialidad: str = "",
    reemplaza: int | None = None,
) -> HTMLResponse:
    wanted = patient_rut(rut)
    patient = request.app.state.database.read(lambda s: records.patient(s, rut=wanted))
    slots: list[dict[str, Any]] | None = None
    if especialidad:
        found = clinical(
            request, caller, "GET", "/api/slots", params={"specialty": especialidad, "limit": 30}
        )
        slots = list(found["slots"])
    return render(
        request,
        "office_booking.html",
        patient={"rut": wanted, "nombre": patient.name},
        specialties=SPECIALTIES,
        specialty=especialidad,
        slots=slots,
        replaces=reemplaza,
    )


@router.post("/pacientes/{rut}/agendar", response_model=None)
async def book(request: Request, rut: str, caller: Clerk) -> Response:
    wanted = patient_rut(rut)
    form = await form_of(request)
    key = form.get("idempotency_key", "")
    page = f"{PREFIX}/pacientes/{wanted}"

    def work(session: Session) -> str:
        slot_id = int(form.get("hora", "0") or 0)
        reserved = clinical(
            request,
            caller,
            "POST",
            f"/api/slots/{slot_id}/reserve",
            key=key,
            json_body={"patient_rut": wanted},
        )
        session.add(
            PhoneBooking(
                patient_rut=wanted,
                slot_id=slot_id,
                starts_at=str(reserved["starts_at"]),
                doctor=str(reserved["doctor"]["name"]),
                specialty=reserved["doctor"].get("specialty"),
                reservation_key=key,
                status="booked",
                booked_by=caller.who,
            )
        )
        audited(session, request, caller, wanted, "create", "appointment")
        if form.get("reemplaza"):
            _cancel(session, request, caller, int(form["reemplaza"]), wanted)
        return page

    done = "Hora cambiada." if form.get("reemplaza") else "Hora agendada."
    return submitted(request, caller, form, work, done, f"{page}/agendar")


def _cancel(session: Session, request: Request, caller: Caller, booking_id: int, rut: str) -> None:
    booking = session.get(PhoneBooking, booking_id, with_for_update=True)
    if booking is None or booking.patient_rut != rut:
        raise NotFound("No existe esa hora para este paciente.")
    if booking.status == "cancelled":
        return
    clinical(
        request,
        caller,
        "POST",
        f"/api/slots/{booking.slot_id}/release",
        key=booking.reservation_key,
    )
    booking.status = "cancelled"
    booking.cancelled_by = caller.who
    booking.cancelled_at = utc_now()
    audited(session, request, caller, rut, "cancel", "appointment")


@router.post("/horas/{booking_id}/anular", response_model=None)
async def cancel(request: Request, booking_id: int, caller: Clerk) -> Response:
    form = await form_of(request)

    def work(session: Session) -> str:
        booking = session.get(PhoneBooking, booking_id)
        if booking is None:
            raise NotFound("No existe esa hora.")
        _cancel(session, request, caller, booking_id, booking.patient_rut)
        return f"{PREFIX}/pacientes/{booking.patient_rut}"

    return submitted(request, caller, form, work, "Hora anulada.", f"{PREFIX}/pacientes")
