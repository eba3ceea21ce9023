"""Clinical data functions: keyword-only, a Session in, rows or MedsysError out."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

from sqlalchemy import (
    CursorResult,
    Integer,
    Row,
    Update,
    and_,
    bindparam,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from medsys.clinical.models import (
    Allergy,
    Consultation,
    Diagnosis,
    DiagnosisStatus,
    Document,
    EncounterStatus,
    Observation,
    ScheduleRule,
    Slot,
    SlotStatus,
    Staff,
    StaffRole,
    Treatment,
    TreatmentStatus,
    VisitStatus,
)
from medsys.clinical.schemas import (
    AllergyIn,
    ConsultationIn,
    ConsultationPatch,
    DiagnosisIn,
    ObservationIn,
    ScheduleIn,
    TreatmentIn,
)
from medsys.clinical.visits import VisitEvent, VisitRuleError, next_status, status_of
from medsys.core.clock import SANTIAGO, utc_now
from medsys.core.errors import Conflict, InvalidInput, NotFound

CLOSED = {EncounterStatus.FINISHED, EncounterStatus.CANCELLED, EncounterStatus.ENTERED_IN_ERROR}


# --- doctors and availability -------------------------------------------------------------
def doctor(session: Session, *, doctor_id: int) -> Staff:
    found = session.get(Staff, doctor_id)
    if found is None or found.role != StaffRole.DOCTOR or not found.active:
        raise NotFound(f"No existe un médico con id {doctor_id}.")
    return found


def doctor_by_rut(session: Session, *, rut: str) -> Staff:
    found = session.scalar(select(Staff).where(Staff.rut == rut, Staff.role == StaffRole.DOCTOR))
    if found is None:
        raise NotFound(f"No existe un médico con RUT {rut}.")
    return found


def doctors(session: Session, *, specialty: str | None = None) -> list[Staff]:
    query = select(Staff).where(Staff.role == StaffRole.DOCTOR, Staff.active.is_(True))
    if specialty:
        query = query.where(func.lower(Staff.specialty) == specialty.strip().lower())
    return list(session.scalars(query.order_by(Staff.full_name)))


def slot_starts(rule: ScheduleIn, first_day: date) -> list[datetime]:
    """UTC starts of a weekly rule's slots, laid out in Santiago wall-clock time, so a
    09:00 slot stays at 09:00 for patients across a DST change."""
    start, end = time.fromisoformat(rule.start), time.fromisoformat(rule.end)
    offset = (rule.weekday - first_day.weekday()) % 7
    starts = []
    for week in range(rule.weeks):
        day = first_day + timedelta(days=offset + 7 * week)
        moment = datetime.combine(day, start)
        while moment.time() < end and moment.date() == day:
            starts.append(moment.replace(tzinfo=SANTIAGO).astimezone(UTC))
            moment += timedelta(minutes=rule.slot_minutes)
    return starts


def add_schedule(session: Session, *, doctor_id: int, rule: ScheduleIn) -> list[Slot]:
    """Record weekly hours and create their bookable slots for the coming weeks."""
    doctor(session, doctor_id=doctor_id)
    if rule.start >= rule.end:
        raise InvalidInput("La hora de inicio debe ser anterior a la de término.")
    session.add(
        ScheduleRule(
            doctor_id=doctor_id,
            weekday=rule.weekday,
            start_local=rule.start,
            end_local=rule.end,
            slot_minutes=rule.slot_minutes,
        )
    )
    now = utc_now()
    wanted = [s for s in slot_starts(rule, now.astimezone(SANTIAGO).date()) if s > now]
    taken = set(
        session.scalars(
            select(Slot.starts_at).where(Slot.doctor_id == doctor_id, Slot.starts_at.in_(wanted))
        )
    )
    created = [
        Slot(
            doctor_id=doctor_id,
            starts_at=start,
            ends_at=start + timedelta(minutes=rule.slot_minutes),
        )
        for start in wanted
        if start not in taken
    ]
    session.add_all(created)
    session.flush()
    return created


def free_slots(
    session: Session,
    *,
    specialty: str | None,
    doctor_id: int | None,
    start: datetime,
    end: datetime,
    limit: int,
) -> list[Slot]:
    query = (
        select(Slot)
        .join(Staff, Slot.doctor_id == Staff.id)
        .where(
            Slot.status == SlotStatus.FREE,
            Slot.starts_at >= max(start, utc_now()),
            Slot.starts_at < end,
        )
    )
    if specialty:
        query = query.where(func.lower(Staff.specialty) == specialty.strip().lower())
    if doctor_id is not None:
        query = query.where(Slot.doctor_id == doctor_id)
    return list(session.scalars(query.order_by(Slot.starts_at, Slot.doctor_id).limit(limit)))


def _rowcount(session: Session, statement: Update) -> int:
    result = cast(CursorResult[Any], session.execute(statement))
    return int(result.rowcount)


def slot(session: Session, *, slot_id: int) -> Slot:
    found = session.get(Slot, slot_id)
    if found is None:
        raise NotFound(f"No existe el bloque horario {slot_id}.")
    return found


def block_slot(session: Session, *, slot_id: int, reason: str) -> Slot:
    changed = _rowcount(
        session,
        update(Slot)
        .where(Slot.id == slot_id, Slot.status == SlotStatus.FREE)
        .values(status=SlotStatus.BLOCKED, note=reason, updated_at=utc_now()),
    )
    found = slot(session, slot_id=slot_id)
    if not changed and found.status != SlotStatus.BLOCKED:
        raise Conflict("El bloque ya está reservado: libérelo antes de bloquearlo.")
    return found


def reserve_slot(session: Session, *, slot_id: int, patient_rut: str, key: str) -> Slot:
    """Atomic: one conditional UPDATE, so two concurrent reservations cannot both win.
    Repeating a reservation with the same key returns the same reservation."""
    current = slot(session, slot_id=slot_id)
    if current.starts_at <= utc_now():
        raise InvalidInput("No se puede reservar un bloque en el pasado.")
    changed = _rowcount(
        session,
        update(Slot)
        .where(Slot.id == slot_id, Slot.status == SlotStatus.FREE)
        .values(
            status=SlotStatus.RESERVED,
            reservation_key=key,
            patient_rut=patient_rut,
            visit_status=VisitStatus.BOOKED,
            updated_at=utc_now(),
        ),
    )
    session.expire(current)
    current = slot(session, slot_id=slot_id)
    if changed:
        return current
    if current.status == SlotStatus.RESERVED and current.reservation_key == key:
        if current.patient_rut != patient_rut:
            raise Conflict("Esa clave de idempotencia ya se usó para otro paciente.")
        return current
    raise Conflict("El bloque horario ya no está disponible.")


def release_slot(session: Session, *, slot_id: int, key: str) -> Slot:
    """Undo a reservation made with ``key``; releasing again is harmless."""
    current = slot(session, slot_id=slot_id)
    if current.status == SlotStatus.FREE:
        return current
    if current.status != SlotStatus.RESERVED or current.reservation_key != key:
        raise Conflict("El bloque fue reservado con otra clave: no se puede liberar con esta.")
    if status_of(True, current.visit_status) not in (VisitStatus.BOOKED, None):
        raise Conflict("El paciente ya llegó o fue atendido: la hora no se puede liberar.")
    session.execute(
        update(Slot)
        .where(Slot.id == slot_id, Slot.reservation_key == key)
        .values(
            status=SlotStatus.FREE,
            reservation_key=None,
            patient_rut=None,
            visit_status=None,
            checked_in_at=None,
            updated_at=utc_now(),
        )
    )
    session.expire(current)
    return slot(session, slot_id=slot_id)


# --- consultations ------------------------------------------------------------------------
def consultation(session: Session, *, consultation_id: int) -> Consultation:
    found = session.get(Consultation, consultation_id)
    if found is None:
        raise NotFound(f"No existe la consulta {consultation_id}.")
    return found


def open_consultation(session: Session, *, consultation_id: int) -> Consultation:
    found = consultation(session, consultation_id=consultation_id)
    if found.status in CLOSED:
        raise Conflict(f"La consulta {consultation_id} está cerrada ({found.status}).")
    return found


def create_consultation(session: Session, *, data: ConsultationIn, author: str) -> Consultation:
    doctor(session, doctor_id=data.doctor_id)
    created = Consultation(
        patient_rut=data.patient_rut,
        doctor_id=data.doctor_id,
        starts_at=data.starts_at,
        reason=data.reason,
        notes=data.notes,
        status=EncounterStatus.PLANNED,
        created_by=author,
    )
    session.add(created)
    session.flush()
    return created


def update_consultation(
    session: Session, *, consultation_id: int, change: ConsultationPatch, author: str
) -> Consultation:
    found = open_consultation(session, consultation_id=consultation_id)
    if change.notes is not None:
        stamp = utc_now().astimezone(SANTIAGO).strftime("%Y-%m-%d %H:%M")
        separator = "\n" if found.notes else ""
        found.notes = f"{found.notes}{separator}[{stamp} {author}] {change.notes}"
    if change.status is not None:
        found.status = change.status
    found.updated_at = utc_now()
    return found


def close_consultation(session: Session, *, consultation_id: int) -> Consultation:
    found = open_consultation(session, consultation_id=consultation_id)
    found.status = EncounterStatus.FINISHED
    found.updated_at = found.closed_at = utc_now()
    if found.slot_id is not None:
        visit = slot(session, slot_id=found.slot_id)
        if status_of(True, visit.visit_status) is VisitStatus.IN_CONSULTATION:
            visit.visit_status = next_status(VisitStatus.IN_CONSULTATION, VisitEvent.FINISH)
            visit.updated_at = utc_now()
    return found


def add_diagnosis(
    session: Session, *, consultation_id: int, data: DiagnosisIn, author: str
) -> Diagnosis:
    open_consultation(session, consultation_id=consultation_id)
    added = Diagnosis(
        consultation_id=consultation_id,
        code=data.code,
        description=data.description,
        rank=data.rank,
        recorded_by=author,
    )
    session.add(added)
    session.flush()
    return added


def add_treatment(
    session: Session, *, consultation_id: int, data: TreatmentIn, author: str
) -> Treatment:
    open_consultation(session, consultation_id=consultation_id)
    if data.kind == "medication" and not (data.dose and data.frequency):
        raise InvalidInput("Un medicamento necesita dosis y frecuencia.")
    added = Treatment(consultation_id=consultation_id, prescribed_by=author, **data.model_dump())
    session.add(added)
    session.flush()
    return added


def add_observation(
    session: Session, *, consultation_id: int, data: ObservationIn, author: str
) -> Observation:
    open_consultation(session, consultation_id=consultation_id)
    added = Observation(consultation_id=consultation_id, recorded_by=author, **data.model_dump())
    session.add(added)
    session.flush()
    return added


@dataclass(frozen=True)
class DoctorCard:
    id: int
    full_name: str
    rut: str
    specialty: str | None


@dataclass(frozen=True)
class ConsultationRecord:
    """A consultation as the history shows it, read with SQLAlchemy Core: the same fields
    as the ORM object, without its per-row bookkeeping (the history is the busiest read;
    the ORM's loading was two thirds of clinical's CPU for it, measured with py-spy)."""

    id: int
    patient_rut: str
    doctor: DoctorCard
    starts_at: datetime
    reason: str
    notes: str
    status: str
    slot_id: int | None
    updated_at: datetime
    diagnoses: list[Row[Any]] = field(default_factory=list)
    treatments: list[Row[Any]] = field(default_factory=list)
    observations: list[Row[Any]] = field(default_factory=list)


# A history is read on every patient page: its statements are built once, here, so a call
# pays neither their construction nor their cache key (SQLAlchemy memoises the key on the
# statement object): 2.3 -> 1.45 ms of CPU per history of three consultations (median of
# eight interleaved rounds of 200 calls, 2026-12-06).
_CONSULTATION, _STAFF = Consultation.__table__, Staff.__table__
_HISTORY_PAGE = (
    select(
        _CONSULTATION.c.id,
        _CONSULTATION.c.patient_rut,
        _CONSULTATION.c.starts_at,
        _CONSULTATION.c.reason,
        _CONSULTATION.c.notes,
        _CONSULTATION.c.status,
        _CONSULTATION.c.slot_id,
        _CONSULTATION.c.updated_at,
        _STAFF.c.id.label("doctor_id"),
        _STAFF.c.full_name.label("doctor_name"),
        _STAFF.c.rut.label("doctor_rut"),
        _STAFF.c.specialty.label("doctor_specialty"),
    )
    .join(_STAFF, _STAFF.c.id == _CONSULTATION.c.doctor_id)
    .where(_CONSULTATION.c.patient_rut == bindparam("rut"))
    .order_by(_CONSULTATION.c.starts_at.desc(), _CONSULTATION.c.id.desc())
    .offset(bindparam("skip", type_=Integer))
    .limit(bindparam("take", type_=Integer))
)
_HISTORY_SIZE = (
    select(func.count())
    .select_from(_CONSULTATION)
    .where(_CONSULTATION.c.patient_rut == bindparam("rut"))
)
_HISTORY_PARTS = tuple(
    (
        attribute,
        select(model.__table__)
        .where(model.__table__.c.consultation_id.in_(bindparam("ids", expanding=True)))
        .order_by(model.__table__.c.id),
    )
    for model, attribute in (
        (Diagnosis, "diagnoses"),
        (Treatment, "treatments"),
        (Observation, "observations"),
    )
)


def history(
    session: Session, *, rut: str, page: int, per_page: int
) -> tuple[list[ConsultationRecord], int]:
    """A patient's consultations, newest first, with everything recorded on them."""
    rows = session.execute(
        _HISTORY_PAGE, {"rut": rut, "skip": (page - 1) * per_page, "take": per_page}
    ).all()
    if page == 1 and len(rows) < per_page:
        total = len(rows)  # the whole history is on this page: no count needed
    else:
        total = int(session.scalar(_HISTORY_SIZE, {"rut": rut}) or 0)
    found = [
        ConsultationRecord(
            id=row.id,
            patient_rut=row.patient_rut,
            doctor=DoctorCard(row.doctor_id, row.doctor_name, row.doctor_rut, row.doctor_specialty),
            starts_at=row.starts_at,
            reason=row.reason,
            notes=row.notes,
            status=row.status,
            slot_id=row.slot_id,
            updated_at=row.updated_at,
        )
        for row in rows
    ]
    by_id = {record.id: record for record in found}
    if by_id:
        for attribute, statement in _HISTORY_PARTS:
            for child in session.execute(statement, {"ids": list(by_id)}):
                getattr(by_id[child.consultation_id], attribute).append(child)
    return found, total


def recent_consultations(session: Session, *, limit: int = 100) -> list[Consultation]:
    query = select(Consultation).order_by(Consultation.starts_at.desc()).limit(limit)
    return list(session.scalars(query))


# --- the agenda and visits -------------------------------------------------------------------
def agenda(
    session: Session, *, doctor_id: int | None, start: datetime, end: datetime
) -> list[Slot]:
    """Booked and blocked slots in [start, end), one doctor's or everyone's (nurses)."""
    query = select(Slot).where(
        Slot.starts_at >= start,
        Slot.starts_at < end,
        Slot.status.in_([SlotStatus.RESERVED, SlotStatus.BLOCKED]),
    )
    if doctor_id is not None:
        query = query.where(Slot.doctor_id == doctor_id)
    return list(session.scalars(query.order_by(Slot.starts_at, Slot.doctor_id)))


def consultation_of_slot(session: Session, *, slot_id: int) -> Consultation | None:
    found: Consultation | None = session.scalar(
        select(Consultation).where(Consultation.slot_id == slot_id)
    )
    return found


def _visit(session: Session, slot_id: int, event: VisitEvent) -> tuple[Slot, VisitStatus]:
    found = slot(session, slot_id=slot_id)
    current = status_of(found.status == SlotStatus.RESERVED, found.visit_status)
    if current is None:
        raise Conflict("El bloque no tiene un paciente agendado.")
    try:
        return found, next_status(current, event)
    except VisitRuleError as refusal:
        raise Conflict(str(refusal)) from None


def record_visit(session: Session, *, slot_id: int, event: VisitEvent) -> Slot:
    """Check-in or no-show on a booked slot (starting is ``start_visit``)."""
    if event not in (VisitEvent.CHECK_IN, VisitEvent.NO_SHOW):
        raise InvalidInput("Evento de visita desconocido.")
    found, status = _visit(session, slot_id, event)
    found.visit_status = status
    if event is VisitEvent.CHECK_IN:
        found.checked_in_at = utc_now()
    found.updated_at = utc_now()
    return found


def start_visit(session: Session, *, slot_id: int, author: str, reason: str) -> Consultation:
    """The consultation of a booked slot, linked to it (one per slot: starting twice
    returns the first)."""
    existing = consultation_of_slot(session, slot_id=slot_id)
    if existing is not None:
        return existing
    found, status = _visit(session, slot_id, VisitEvent.START)
    if found.patient_rut is None:
        raise Conflict("El bloque no tiene un paciente agendado.")
    created = Consultation(
        patient_rut=found.patient_rut,
        doctor_id=found.doctor_id,
        starts_at=utc_now(),
        reason=reason,
        notes="",
        status=EncounterStatus.IN_PROGRESS,
        created_by=author,
        slot_id=found.id,
    )
    session.add(created)
    found.visit_status = status
    found.updated_at = utc_now()
    session.flush()
    return created


# --- corrections ---------------------------------------------------------------------------
def diagnosis(session: Session, *, diagnosis_id: int) -> Diagnosis:
    found = session.get(Diagnosis, diagnosis_id)
    if found is None:
        raise NotFound(f"No existe el diagnóstico {diagnosis_id}.")
    return found


def set_diagnosis_status(
    session: Session, *, diagnosis_id: int, status: DiagnosisStatus, reason: str, author: str
) -> Diagnosis:
    """Refuted or entered-in-error, with who, when and why; the entry itself stays."""
    found = diagnosis(session, diagnosis_id=diagnosis_id)
    if found.status != DiagnosisStatus.CONFIRMED:
        raise Conflict(f"El diagnóstico ya está marcado como {found.status}.")
    found.status = status
    found.status_reason = reason
    found.status_changed_by = author
    found.status_changed_at = utc_now()
    return found


def treatment(session: Session, *, treatment_id: int) -> Treatment:
    found = session.get(Treatment, treatment_id)
    if found is None:
        raise NotFound(f"No existe la indicación {treatment_id}.")
    return found


def stop_treatment(session: Session, *, treatment_id: int, reason: str, author: str) -> Treatment:
    found = treatment(session, treatment_id=treatment_id)
    if found.status != TreatmentStatus.ACTIVE:
        raise Conflict("La indicación ya no está activa.")
    found.status = TreatmentStatus.STOPPED
    found.stopped_at = utc_now()
    found.stopped_by = author
    found.stop_reason = reason
    return found


# --- the chart ---------------------------------------------------------------------------
def add_allergy(session: Session, *, rut: str, data: AllergyIn, author: str) -> Allergy:
    added = Allergy(
        patient_rut=rut,
        substance=data.substance,
        reaction=data.reaction,
        status="active",
        recorded_by=author,
    )
    session.add(added)
    session.flush()
    return added


def allergies(session: Session, *, rut: str) -> list[Allergy]:
    query = select(Allergy).where(Allergy.patient_rut == rut, Allergy.status == "active")
    return list(session.scalars(query.order_by(Allergy.recorded_at)))


def chart(session: Session, *, rut: str, limit: int = 50) -> list[ConsultationRecord]:
    """The newest consultations with everything recorded on them, for the chart."""
    return history(session, rut=rut, page=1, per_page=limit)[0]


# --- documents ---------------------------------------------------------------------------
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud or typed by hand


def new_document_code() -> str:
    letters = "".join(secrets.choice(CODE_ALPHABET) for _ in range(12))
    return "-".join(letters[i : i + 4] for i in range(0, 12, 4))


def issue_document(
    session: Session, *, consultation_id: int, kind: str, body: dict[str, Any], author: str
) -> Document:
    found = consultation(session, consultation_id=consultation_id)
    issued = Document(
        code=new_document_code(),
        kind=kind,
        consultation_id=found.id,
        patient_rut=found.patient_rut,
        issued_by=author,
        body=json.dumps(body, ensure_ascii=False),
    )
    session.add(issued)
    session.flush()
    return issued


def document(session: Session, *, code: str) -> Document:
    found = session.get(Document, code.strip().upper())
    if found is None:
        raise NotFound("No existe un documento con ese código.")
    return found


def block_range(
    session: Session, *, doctor_id: int, start: datetime, end: datetime, reason: str
) -> tuple[int, list[Slot]]:
    """Block every free slot of a doctor in [start, end) in one step (a vacation); booked
    ones are left as they are and returned, for someone to call those patients."""
    if end <= start:
        raise InvalidInput("El final del bloqueo debe ser posterior a su inicio.")
    blocked = _rowcount(
        session,
        update(Slot)
        .where(
            Slot.doctor_id == doctor_id,
            Slot.starts_at >= start,
            Slot.starts_at < end,
            Slot.status == SlotStatus.FREE,
        )
        .values(status=SlotStatus.BLOCKED, note=reason, updated_at=utc_now()),
    )
    booked = session.scalars(
        select(Slot)
        .where(
            Slot.doctor_id == doctor_id,
            Slot.starts_at >= start,
            Slot.starts_at < end,
            Slot.status == SlotStatus.RESERVED,
        )
        .order_by(Slot.starts_at)
    )
    return blocked, list(booked)


def schedule_rules(session: Session, *, doctor_id: int) -> list[ScheduleRule]:
    query = select(ScheduleRule).where(ScheduleRule.doctor_id == doctor_id)
    return list(session.scalars(query.order_by(ScheduleRule.weekday, ScheduleRule.start_local)))


def closed_since(
    session: Session, *, since: datetime | None, after: int, limit: int
) -> list[Consultation]:
    """Finished consultations in closing order, from (``since``, ``after``) on, exclusive
    (billing's cursor: the closing time, and the id between those closed at one instant)."""
    query = select(Consultation).where(Consultation.status == EncounterStatus.FINISHED)
    if since is not None:
        query = query.where(
            or_(
                Consultation.closed_at > since,
                and_(Consultation.closed_at == since, Consultation.id > after),
            )
        )
    query = query.order_by(Consultation.closed_at, Consultation.id).limit(limit)
    return list(session.scalars(query))
