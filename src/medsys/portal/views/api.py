"""The seed's JSON endpoints: `GET /health` and `POST /api/appointments` with
``{"patient_rut","patient_name","doctor_name","specialty","appointment_date"}``, for an
authenticated patient (a bearer token the portal signed for the portal, or the portal
session), for their own RUT. A naive date is Santiago time; it must match a free slot exactly.

And the front office's one errand here: `POST /api/accounts/{rut}/second-factor/remove`,
for a clerk (admin's token for the portal), when a patient lost the phone."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, current_app, request

from medsys.core.auth import Caller, authenticate
from medsys.core.clock import local_iso, parse_instant, utc_now
from medsys.core.db import DatabaseRoutingError
from medsys.core.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    MedsysError,
    NotFound,
    Unauthenticated,
    Unavailable,
)
from medsys.core.health import health_status
from medsys.core.request_guard import refuse_if_marked
from medsys.core.rut import InvalidRutError, normalize_rut
from medsys.core.tokens import Role
from medsys.core.validation import validate
from medsys.portal import accounts, booking
from medsys.portal.extensions import database, middleware
from medsys.portal.gateway import Refused
from medsys.portal.gateway import Unavailable as MiddlewareUnavailable
from medsys.portal.views.session import current_rut

blueprint = Blueprint("api", __name__)


@blueprint.get("/health")
def health() -> tuple[dict[str, Any], int]:
    try:
        primary: str | None = database().find_primary()
    except DatabaseRoutingError:
        primary = None
    upstream = middleware().health()
    body = {
        "service": "portal",
        "status": "ok" if primary and upstream else "degraded" if primary else "unavailable",
        "database": {"primary": primary, "reachable": primary is not None},
        "middleware": {"reachable": upstream},
    }
    return body, health_status(primary is not None, request.args)


@blueprint.post("/api/accounts/<rut>/second-factor/remove")
def remove_second_factor(rut: str) -> tuple[dict[str, Any], int]:
    """A clerk at reception, who has seen the patient's ID card, removes the second factor
    of a patient who lost the phone: the patient's sessions end and the next login takes
    the password alone. Only a clerk: no patient, accountant or relayed call."""
    try:
        clerk = authenticate(dict(request.headers), current_app.config["VERIFIER"], (Role.CLERK,))
        try:
            wanted = normalize_rut(rut)
        except InvalidRutError as error:
            raise InvalidInput(str(error)) from None
        ended = accounts.remove_second_factor(
            database(), rut=wanted, by=clerk.in_person(), by_role=Role.CLERK.value, via="admin"
        )
        if ended is None:
            raise NotFound("El paciente no tiene cuenta en el portal.")
    except MedsysError as error:
        return error.body(), error.status
    return {"rut": wanted, "second_factor": "removed", "sessions_ended": ended}, 200


def _patient() -> Caller | str:
    """Who asks, before anything in the body is looked at: a patient's token for the
    portal, or the portal's own session (its RUT); anyone else hears 401."""
    if "Authorization" in request.headers:
        return authenticate(dict(request.headers), current_app.config["VERIFIER"], (Role.PATIENT,))
    own = current_rut()
    if own is None:
        raise Unauthenticated("Ingrese al portal o envíe un token (Authorization: Bearer ...).")
    refuse_if_marked(request.headers)
    return own


def _may_book_for(patient: Caller | str, wanted: str) -> str:
    """Their own RUT only."""
    allowed = patient.may_reach(wanted) if isinstance(patient, Caller) else patient == wanted
    if not allowed:
        raise Forbidden("Solo puede pedir horas para usted.")
    return wanted


@blueprint.post("/api/appointments")
def create_appointment() -> tuple[dict[str, Any], int]:
    from medsys.portal.schemas import AppointmentIn

    try:
        patient = _patient()
        data = validate(AppointmentIn, request.get_json(silent=True))
        rut = _may_book_for(patient, data.patient_rut)
        when = parse_instant(data.appointment_date, "appointment_date")
        if when <= utc_now():
            raise InvalidInput("La fecha de la cita ya pasó.")
        slot = _matching_slot(rut, data.doctor_name, data.specialty, when)
        made = booking.book(database(), middleware(), rut=rut, slot=slot)
    except MedsysError as error:
        return error.body(), error.status
    return {
        "id": made["id"],
        "status": "booked",
        "patient_rut": rut,
        "doctor_name": slot["doctor"]["name"],
        "specialty": slot["doctor"]["specialty"],
        "appointment_date": local_iso(when),
    }, 201


def _matching_slot(rut: str, doctor_name: str, specialty: str, when: Any) -> dict[str, Any]:
    try:
        doctors = middleware().doctors(rut, specialty)
        doctor = next(
            (d for d in doctors if d["name"].lower() == doctor_name.strip().lower()), None
        )
        if doctor is None:
            raise NotFound(f"No hay un médico '{doctor_name}' en {specialty}.")
        window = {"from": when.isoformat(), "to": (when + timedelta(minutes=1)).isoformat()}
        slots = middleware().slots(rut, doctor_id=doctor["id"], **window)
    except MiddlewareUnavailable:
        raise Unavailable("La agenda no está disponible temporalmente.") from None
    except Refused as refusal:
        raise InvalidInput(refusal.message) from None
    if not slots:
        raise Conflict("No hay una hora libre de ese médico en esa fecha y hora.")
    return slots[0]
