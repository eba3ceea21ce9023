"""Doctors, their weekly hours, and bookable slots."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, request

from medsys.clinical import records
from medsys.clinical.extensions import database
from medsys.clinical.present import doctor_json, slot_json
from medsys.clinical.schemas import BlockIn, ReserveIn, ScheduleIn
from medsys.clinical.web import body, current_caller, int_arg, may_reach_patient, requires
from medsys.core.clock import parse_instant, utc_now
from medsys.core.errors import Forbidden, InvalidInput
from medsys.core.request_parts import idempotency_key_of
from medsys.core.tokens import Role

blueprint = Blueprint("availability", __name__, url_prefix="/api")
ANYONE = (Role.DOCTOR, Role.NURSE, Role.CLERK, Role.ACCOUNTANT, Role.PATIENT)
# A patient books for themselves; the care team and the front office (on the phone) for one.
BOOKERS = (Role.DOCTOR, Role.NURSE, Role.CLERK, Role.PATIENT)


def idempotency_key() -> str:
    return idempotency_key_of(request.headers.get("Idempotency-Key"))


@blueprint.get("/doctors")
@requires(*ANYONE)
def list_doctors() -> dict[str, Any]:
    specialty = request.args.get("specialty")
    found = database().read(lambda s: records.doctors(s, specialty=specialty))
    return {"doctors": [doctor_json(d) for d in found]}


@blueprint.post("/doctors/<int:doctor_id>/schedule")
@requires(Role.DOCTOR)
def add_schedule(doctor_id: int) -> tuple[dict[str, Any], int]:
    rule = body(ScheduleIn)
    caller = current_caller()

    def work(session: Any) -> list[dict[str, Any]]:
        own = records.doctor(session, doctor_id=doctor_id)
        if own.username != caller.who:
            raise Forbidden("Un médico solo puede definir su propio horario.")
        return [
            slot_json(slot)
            for slot in records.add_schedule(session, doctor_id=doctor_id, rule=rule)
        ]

    created = database().write(work)
    return {"created": len(created), "slots": created}, 201


@blueprint.get("/slots")
@requires(*ANYONE)
def list_free_slots() -> dict[str, Any]:
    start = parse_instant(request.args["from"], "from") if "from" in request.args else utc_now()
    end = (
        parse_instant(request.args["to"], "to")
        if "to" in request.args
        else start + timedelta(days=14)
    )
    if end <= start or end - start > timedelta(days=120):
        raise InvalidInput("El rango 'from'-'to' debe ser positivo y de a lo más 120 días.")
    doctor_id = int_arg("doctor_id", 0, low=0, high=2**31) or None
    limit = int_arg("limit", 100, low=1, high=500)
    found = database().read(
        lambda s: records.free_slots(
            s,
            specialty=request.args.get("specialty"),
            doctor_id=doctor_id,
            start=start,
            end=end,
            limit=limit,
        )
    )
    return {"slots": [slot_json(slot) for slot in found]}


@blueprint.post("/slots/<int:slot_id>/block")
@requires(Role.DOCTOR, Role.NURSE)
def block(slot_id: int) -> dict[str, Any]:
    reason = body(BlockIn).reason
    return database().write(
        lambda s: slot_json(records.block_slot(s, slot_id=slot_id, reason=reason))
    )


@blueprint.post("/slots/<int:slot_id>/reserve")
@requires(*BOOKERS)
def reserve(slot_id: int) -> dict[str, Any]:
    key = idempotency_key()
    patient = body(ReserveIn).patient_rut
    may_reach_patient(patient)
    return database().write(
        lambda s: slot_json(records.reserve_slot(s, slot_id=slot_id, patient_rut=patient, key=key))
    )


@blueprint.post("/slots/<int:slot_id>/release")
@requires(*BOOKERS)
def release(slot_id: int) -> dict[str, Any]:
    key = idempotency_key()

    def work(session: Any) -> dict[str, Any]:
        held_for = records.slot(session, slot_id=slot_id).patient_rut
        if held_for is not None:
            may_reach_patient(held_for)
        return slot_json(records.release_slot(session, slot_id=slot_id, key=key))

    return database().write(work)
