"""Booking as a two-step saga across the portal's database and clinical's agenda.

1. Record the appointment as ``pending`` with a fresh reservation key (portal DB).
2. Reserve the slot through the middleware with that key (idempotent, so a retry after
   an unknown outcome cannot double-book).
3. Mark it ``booked``; if the slot was refused, mark it ``failed``; if the outcome stays
   unknown or step 3 fails, release the slot with the same key (compensation) and mark
   it ``failed``. Neither a ghost booking nor a lost slot survives either failure.
Cancelling releases the slot first and only then marks the appointment ``cancelled``.

A booking abandoned half-way (the portal died between the steps, or the compensation
itself could not reach the agenda) stays ``pending``; ``reconcile_pending``, run every
minute by each portal process, releases its slot with the same key and marks it ``failed``.
The patient never saw it confirmed, so nobody loses an appointment they were promised.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from medsys.core.clock import parse_instant, utc_now
from medsys.core.db import Database, DatabaseRoutingError
from medsys.core.errors import Conflict, InvalidInput, NotFound, Unavailable
from medsys.portal.gateway import Middleware, Refused
from medsys.portal.gateway import Unavailable as MiddlewareUnavailable
from medsys.portal.models import Appointment

log = logging.getLogger("medsys.portal.booking")


def _set_status(
    database: Database, appointment_id: int, status: str, note: str | None = None
) -> None:
    def work(session: Session) -> None:
        found = session.get(Appointment, appointment_id)
        if found is not None:
            found.status = status
            found.note = note
            found.updated_at = utc_now()

    database.write(work)


def book(
    database: Database, middleware: Middleware, *, rut: str, slot: dict[str, Any]
) -> dict[str, Any]:
    starts_at = parse_instant(slot["starts_at"])
    if starts_at <= utc_now():
        raise InvalidInput("No se puede reservar una hora en el pasado.")
    key = f"portal-{uuid.uuid4().hex}"

    def record(session: Session) -> int:
        pending = Appointment(
            patient_rut=rut,
            slot_id=int(slot["id"]),
            reservation_key=key,
            doctor_name=slot["doctor"]["name"],
            specialty=slot["doctor"].get("specialty"),
            starts_at=starts_at,
            status="pending",
        )
        session.add(pending)
        session.flush()
        return pending.id

    appointment_id = database.write(record)
    try:
        reserved = _reserve(middleware, rut, int(slot["id"]), key)
    except Refused as refusal:
        _set_status(database, appointment_id, "failed", refusal.message)
        raise Conflict(refusal.message) from None
    except MiddlewareUnavailable:
        _compensate(database, middleware, rut, int(slot["id"]), key, appointment_id)
        raise Unavailable(
            "La agenda no está disponible en este momento; no se reservó ninguna hora."
        ) from None
    try:
        _set_status(database, appointment_id, "booked")
    except DatabaseRoutingError:
        _compensate(database, middleware, rut, int(slot["id"]), key, appointment_id)
        raise Unavailable("No se pudo guardar la cita; la hora fue liberada.") from None
    return {"id": appointment_id, "slot": reserved, "status": "booked"}


def _reserve(middleware: Middleware, rut: str, slot_id: int, key: str) -> dict[str, Any]:
    try:
        return middleware.reserve(rut, slot_id, key)
    except MiddlewareUnavailable:
        return middleware.reserve(rut, slot_id, key)  # same key: safe to repeat once


def _compensate(
    database: Database,
    middleware: Middleware,
    rut: str,
    slot_id: int,
    key: str,
    appointment_id: int,
) -> None:
    try:
        middleware.release(rut, slot_id, key)
    except (MiddlewareUnavailable, Refused) as error:
        log.error(
            "could not release slot %s (key %s): %s; left pending for reconciliation",
            slot_id,
            key,
            error,
        )
        return
    try:
        _set_status(database, appointment_id, "failed", "no se pudo completar la reserva")
    except DatabaseRoutingError:
        log.error("slot %s released but appointment %s not marked failed", slot_id, appointment_id)


def cancel(database: Database, middleware: Middleware, *, rut: str, appointment_id: int) -> None:
    found = database.read(lambda s: s.get(Appointment, appointment_id))
    if found is None or found.patient_rut != rut:
        raise NotFound("No existe esa cita.")
    if found.status != "booked":
        raise Conflict("La cita no está vigente.")
    if found.starts_at <= utc_now():
        raise InvalidInput("No se puede anular una cita pasada.")
    try:
        middleware.release(rut, found.slot_id, found.reservation_key)
    except MiddlewareUnavailable:
        raise Unavailable("La agenda no está disponible; la cita sigue vigente.") from None
    except Refused as refusal:
        raise Conflict(refusal.message) from None
    _set_status(database, appointment_id, "cancelled")


def appointments(database: Database, rut: str) -> list[Appointment]:
    query = (
        select(Appointment)
        .where(Appointment.patient_rut == rut, Appointment.status.in_(("booked", "cancelled")))
        .order_by(Appointment.starts_at)
    )
    return list(database.read(lambda s: list(s.scalars(query))))


# A booking takes seconds; a pending one this old was abandoned.
ABANDONED_AFTER = timedelta(minutes=2)
NOT_HELD = frozenset({404, 409})  # no such slot, or held with another key


def reconcile_pending(
    database: Database,
    middleware: Middleware,
    *,
    now: datetime | None = None,
    older_than: timedelta = ABANDONED_AFTER,
) -> list[int]:
    """Release the slots of abandoned bookings and mark them failed; the ids done.
    An appointment whose slot cannot be released now stays pending for the next round."""
    cutoff = (now or utc_now()) - older_than
    query = select(Appointment).where(
        Appointment.status == "pending", Appointment.updated_at < cutoff
    )
    done: list[int] = []
    for stale in database.read(lambda s: list(s.scalars(query))):
        try:
            middleware.release(stale.patient_rut, stale.slot_id, stale.reservation_key)
        except MiddlewareUnavailable:
            continue
        except Refused as refusal:
            if refusal.status not in NOT_HELD:
                log.error("appointment %s: release refused: %s", stale.id, refusal.message)
                continue

        def mark_failed(session: Session, appointment_id: int = stale.id) -> int:
            # Only if still pending: a booking finishing right now keeps its outcome.
            changed = session.execute(
                update(Appointment)
                .where(Appointment.id == appointment_id, Appointment.status == "pending")
                .values(
                    status="failed",
                    note="reserva no completada; la hora fue liberada",
                    updated_at=utc_now(),
                )
            )
            return int(changed.rowcount)  # type: ignore[attr-defined]

        if database.write(mark_failed):
            log.warning("appointment %s abandoned while pending: slot released", stale.id)
            done.append(stale.id)
    return done
