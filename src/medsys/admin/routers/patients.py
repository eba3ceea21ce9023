"""Patients (the seed's shape), their coverage, and the summary the middleware reads.
Clerks manage patients and coverage; accountants read; every read of a patient is audited."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from medsys.admin import records
from medsys.admin.deps import (
    AccountLinkErrand,
    ChartReader,
    ClerkOnly,
    DatabaseDep,
    Finder,
    Reader,
    RequestId,
)
from medsys.admin.present import (
    coverage_json,
    patient_json,
    patients_with_coverage,
    summary_json,
)
from medsys.admin.schemas import CoverageIn, PatientIn, PatientPatch
from medsys.core.admin_answers import (
    AccessLogOut,
    AccountContactOut,
    BalanceOut,
    CoverageOut,
    PatientOut,
    PatientWithCoverageOut,
    SummaryOut,
)
from medsys.core.api_docs import AUTHENTICATED, PatientRut
from medsys.core.audit import access_log as read_access_log
from medsys.core.auth import Caller, audit_access, audit_accesses
from medsys.core.errors import InvalidInput
from medsys.core.request_parts import rut_of
from medsys.core.text_search import search_words
from medsys.core.tokens import Role

router = APIRouter(tags=["patients"], responses=AUTHENTICATED)


def _audit(
    session: Session, caller: Caller, request_id: str, rut: str, action: str = "read"
) -> None:
    audit_access(
        session, caller, action=action, resource="patient", patient_rut=rut, request_id=request_id
    )


@router.get("/patients", response_model=list[PatientWithCoverageOut])
def list_patients(
    database: DatabaseDep,
    caller: Finder,
    request_id: RequestId,
    rut: Annotated[list[str] | None, Query(max_length=100)] = None,
    q: Annotated[str | None, Query(max_length=80)] = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 50,
) -> list[dict[str, Any]]:
    """All patients, or those with the given `rut`s (the seed's `?rut=`, repeatable) or
    matching `q`: every word of it in the name or the RUT, in any order, case and accents
    ignored, a RUT with or without dots; each with their current coverage. The care team
    (relayed from the clinical workspace) must say whom it looks for."""
    wanted = [rut_of(text) for text in rut or []]
    if caller.role in (Role.DOCTOR, Role.NURSE) and not (wanted or search_words(q or "")):
        raise InvalidInput("Indique a quién busca: un nombre o un RUT.")

    def work(session: Session) -> list[dict[str, Any]]:
        found = records.search_patients(session, text=q, ruts=wanted, page=page, per_page=per_page)
        audit_accesses(
            session,
            caller,
            action="read",
            resource="patient",
            patient_ruts=[p.rut for p in found],
            request_id=request_id,
        )
        return patients_with_coverage(session, found)

    return database.write(work)


@router.post("/patients", status_code=201, response_model=PatientOut)
def create_patient(
    data: PatientIn, database: DatabaseDep, caller: ClerkOnly, request_id: RequestId
) -> dict[str, Any]:
    def work(session: Session) -> dict[str, Any]:
        created = records.create_patient(session, data=data)
        _audit(session, caller, request_id, created.rut, "create")
        return patient_json(created)

    return database.write(work)


@router.get("/patients/{rut}", response_model=PatientWithCoverageOut)
def read_patient(
    rut: PatientRut, database: DatabaseDep, caller: ChartReader, request_id: RequestId
) -> dict[str, Any]:
    wanted = rut_of(rut)

    def work(session: Session) -> dict[str, Any]:
        found = records.patient(session, rut=wanted)
        return {
            **patient_json(found),
            "coverage": coverage_json(records.current_coverage(session, rut=wanted)),
        }

    return database.audited_read(lambda session: _audit(session, caller, request_id, wanted), work)


@router.get("/patients/{rut}/account-contact", response_model=AccountContactOut)
def account_contact(
    rut: PatientRut, database: DatabaseDep, caller: AccountLinkErrand, request_id: RequestId
) -> dict[str, Any]:
    """Name and e-mail address on file, for the portal to mail an account link to a RUT
    typed before anyone logged in. Only a token narrowed to that errand gets here; the
    audit row names the portal (the patient can see in "Quién vio mi ficha" that a link
    was asked for), not the patient, who has not shown who they are."""
    wanted = rut_of(rut)

    def audit(session: Session) -> None:
        _audit(session, caller, request_id, wanted, "account-link-lookup")

    def work(session: Session) -> dict[str, Any]:
        found = records.patient(session, rut=wanted)
        return {"rut": found.rut, "nombre": found.name, "email": found.email}

    return database.audited_read(audit, work)


@router.patch("/patients/{rut}", response_model=PatientOut)
def update_patient(
    rut: PatientRut,
    change: PatientPatch,
    database: DatabaseDep,
    caller: ClerkOnly,
    request_id: RequestId,
) -> dict[str, Any]:
    wanted = rut_of(rut)

    def work(session: Session) -> dict[str, Any]:
        updated = records.update_patient(session, rut=wanted, change=change)
        _audit(session, caller, request_id, wanted, "update")
        return patient_json(updated)

    return database.write(work)


@router.post("/patients/{rut}/coverage", status_code=201, response_model=CoverageOut)
def add_coverage(
    rut: PatientRut,
    data: CoverageIn,
    database: DatabaseDep,
    caller: ClerkOnly,
    request_id: RequestId,
) -> dict[str, Any]:
    wanted = rut_of(rut)

    def work(session: Session) -> dict[str, Any] | None:
        added = records.add_coverage(session, rut=wanted, data=data)
        _audit(session, caller, request_id, wanted, "update")
        return coverage_json(added)

    return database.write(work) or {}


@router.get("/patients/{rut}/summary", response_model=SummaryOut)
def summary(
    rut: PatientRut, database: DatabaseDep, caller: ChartReader, request_id: RequestId
) -> dict[str, Any]:
    """Demographics, current coverage, invoices and balance: what the middleware shows."""
    wanted = rut_of(rut)

    def work(session: Session) -> dict[str, Any]:
        records.patient(session, rut=wanted)
        _audit(session, caller, request_id, wanted)
        return summary_json(session, wanted)

    return database.write(work)


@router.get("/patients/{rut}/access-log", response_model=AccessLogOut)
def access_log(rut: PatientRut, database: DatabaseDep, caller: Reader) -> dict[str, Any]:
    """Who read or changed this patient's administrative records (for the patient)."""
    wanted = rut_of(rut)
    entries = database.read(lambda s: read_access_log(s, patient_rut=wanted))
    return {"patient_rut": wanted, "entries": entries}


@router.get("/patients/{rut}/balance", response_model=BalanceOut)
def balance(
    rut: PatientRut, database: DatabaseDep, caller: Reader, request_id: RequestId
) -> dict[str, Any]:
    wanted = rut_of(rut)

    def work(session: Session) -> dict[str, Any]:
        records.patient(session, rut=wanted)
        _audit(session, caller, request_id, wanted)
        found = records.balance(session, rut=wanted)
        return {
            "patient_rut": wanted,
            "billed": found.billed,
            "paid": found.paid,
            "outstanding": found.outstanding,
        }

    return database.write(work)
