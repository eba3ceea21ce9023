"""A patient's phone bookings as the office pages list them (the patient's page and the
booking page both show them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from medsys.admin.models import PhoneBooking


def bookings_of(session: Session, rut: str) -> list[PhoneBooking]:
    query = select(PhoneBooking).where(PhoneBooking.patient_rut == rut)
    return list(session.scalars(query.order_by(PhoneBooking.starts_at)))


def upcoming(bookings: list[PhoneBooking]) -> list[dict[str, Any]]:
    now = datetime.now().astimezone()
    return [
        {
            "id": b.id,
            "when": datetime.fromisoformat(b.starts_at),
            "doctor": b.doctor,
            "specialty": b.specialty,
            "status": b.status,
            "past": datetime.fromisoformat(b.starts_at) < now,
        }
        for b in bookings
    ]
