"""Demo data loaded by `medsys up` on an empty clinical database: doctors across
specialties (valid RUTs), a nurse, weeks of slots, and histories for the demo patients."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from medsys.clinical import records
from medsys.clinical.models import (
    Consultation,
    Diagnosis,
    EncounterStatus,
    Observation,
    Staff,
    StaffRole,
    Treatment,
)
from medsys.clinical.schemas import ScheduleIn
from medsys.core.clock import SANTIAGO, utc_now
from medsys.core.demo_logins import demo_password
from medsys.core.passwords import hash_password
from medsys.core.rut import check_digit

STAFF = (
    ("dra.soto", "Dra. Carolina Soto", 10234567, StaffRole.DOCTOR, "Medicina General"),
    ("dr.rojas", "Dr. Andrés Rojas", 11345678, StaffRole.DOCTOR, "Cardiología"),
    ("dra.munoz", "Dra. Francisca Muñoz", 12456789, StaffRole.DOCTOR, "Pediatría"),
    ("dr.fuentes", "Dr. Tomás Fuentes", 13567890, StaffRole.DOCTOR, "Traumatología"),
    ("enf.silva", "Enf. Javiera Silva", 14678901, StaffRole.NURSE, None),
)

ADMINISTRATOR = "dra.soto"  # manages the clinical accounts in the demo

Treatment6 = tuple[str, str, str | None, str | None, str | None, str | None]
Visit = tuple[int, str, str, tuple[str, str], Treatment6]

HISTORIES: dict[str, list[Visit]] = {
    "11111111-1": [
        (
            90,
            "dra.soto",
            "Fiebre y dolor de garganta",
            ("J02.9", "Faringitis aguda"),
            ("medication", "Paracetamol", "500 mg", "oral", "cada 8 horas", "5 días"),
        ),
        (
            45,
            "dr.rojas",
            "Control de presión arterial",
            ("I10", "Hipertensión esencial"),
            ("medication", "Losartán", "50 mg", "oral", "una vez al día", "continuo"),
        ),
        (
            10,
            "dr.fuentes",
            "Dolor de tobillo tras caída",
            ("S93.4", "Esguince de tobillo"),
            ("procedure", "Inmovilización con férula", None, None, None, "2 semanas"),
        ),
    ],
    "22222222-2": [
        (
            30,
            "dra.munoz",
            "Control sano",
            ("Z00.1", "Control de salud de rutina del niño"),
            ("procedure", "Vacunación según calendario", None, None, None, None),
        ),
    ],
    "33333333-3": [
        (
            20,
            "dra.soto",
            "Tos persistente",
            ("J20.9", "Bronquitis aguda"),
            ("medication", "Salbutamol", "2 inhalaciones", "inhalatoria", "cada 6 horas", "7 días"),
        ),
    ],
}


def demo_rut(body: int) -> str:
    return f"{body}-{check_digit(body)}"


def load(session: Session, *, seed: str) -> bool:
    """Fill an empty database; False (and nothing done) when staff already exist."""
    if session.scalar(select(func.count()).select_from(Staff)):
        return False
    people = {}
    for username, name, body, role, specialty in STAFF:
        people[username] = Staff(
            username=username,
            full_name=name,
            rut=demo_rut(body),
            role=role,
            specialty=specialty,
            password_hash=hash_password(demo_password(seed, username)),
            is_administrator=username == ADMINISTRATOR,
        )
    session.add_all(people.values())
    session.flush()
    for person in people.values():
        if person.role == StaffRole.DOCTOR:
            for weekday in range(5):
                rule = ScheduleIn(
                    weekday=weekday, start="09:00", end="12:00", slot_minutes=30, weeks=3
                )
                records.add_schedule(session, doctor_id=person.id, rule=rule)
    for rut, visits in HISTORIES.items():
        for days_ago, username, reason, (code, text), treatment in visits:
            _visit(session, people[username], rut, days_ago, reason, code, text, treatment)
    return True


def _visit(
    session: Session,
    doctor: Staff,
    rut: str,
    days_ago: int,
    reason: str,
    code: str,
    text: str,
    treatment: Treatment6,
) -> None:
    visit = Consultation(
        patient_rut=rut,
        doctor_id=doctor.id,
        starts_at=datetime.combine(
            utc_now().astimezone(SANTIAGO).date() - timedelta(days=days_ago), time(10, 0), SANTIAGO
        ),
        reason=reason,
        notes="Paciente evoluciona favorablemente.",
        status=EncounterStatus.FINISHED,
        created_by=doctor.username,
    )
    session.add(visit)
    session.flush()
    kind, description, dose, route, frequency, duration = treatment
    session.add_all(
        [
            Diagnosis(
                consultation_id=visit.id,
                code=code,
                description=text,
                rank="principal",
                recorded_by=doctor.username,
            ),
            Treatment(
                consultation_id=visit.id,
                kind=kind,
                description=description,
                dose=dose,
                route=route,
                frequency=frequency,
                duration=duration,
                status="completed",
                prescribed_by=doctor.username,
            ),
            Observation(
                consultation_id=visit.id,
                kind="presion_arterial",
                value="120/80",
                unit="mmHg",
                recorded_by="enf.silva",
            ),
        ]
    )
