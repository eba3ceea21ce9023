"""FastAPI dependencies: the database, the caller with the right role, the request id.

The token check is ``async def``: FastAPI runs a plain ``def`` dependency in a worker
thread, a hand-off per request that cost more than the check itself. Only what touches the
database (a staff session, the audit row of a refusal) goes to a worker thread.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, Request
from starlette.concurrency import run_in_threadpool

from medsys.core.auth import SESSION_ENDED, Caller, caller_of, confine
from medsys.core.auth import audit_refusal as core_audit_refusal
from medsys.core.db import Database
from medsys.core.errors import MedsysError, Unauthenticated
from medsys.core.request_parts import idempotency_key_of, request_id_of
from medsys.core.rut import InvalidRutError, normalize_rut
from medsys.core.staff import StaffDirectory
from medsys.core.tokens import Role, Scope


async def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def get_request_id(
    request: Request, x_request_id: Annotated[str | None, Header()] = None
) -> str:
    """The id the request log answers with (core.request_log), so logs and audit agree."""
    given: str | None = getattr(request.state, "request_id", None)
    return given or request_id_of(x_request_id)


def _path_rut(request: Request) -> str | None:
    try:
        return normalize_rut(str(request.path_params["rut"]))
    except (KeyError, InvalidRutError):
        return None  # no patient in the path, or a bad RUT the route itself refuses


def caller_with(
    *roles: Role, errand: Scope | None = None
) -> Callable[[Request], Awaitable[Caller]]:
    """The caller, with a staff login's session still open, confined to its patient
    when it speaks for one; a refusal about a patient in the path is audited. ``errand``:
    the one narrowed token this route takes instead of ordinary ones (core.auth)."""

    async def dependency(request: Request) -> Caller:
        rut = _path_rut(request)
        try:
            caller = caller_of(request.headers, request.app.state.verifier, roles, errand=errand)
            if caller.claims.session_id is not None:
                staff: StaffDirectory = request.app.state.staff
                if not await run_in_threadpool(staff.session_open, caller.claims):
                    raise Unauthenticated(SESSION_ENDED)
            if rut is not None:
                confine(caller, rut)
        except MedsysError as refusal:
            if rut is not None:
                await run_in_threadpool(audit_refusal, request, rut, refusal)
            raise
        return caller

    return dependency


def audit_refusal(request: Request, rut: str, refusal: MedsysError) -> None:
    core_audit_refusal(
        request.app.state.database,
        request.headers,
        request.app.state.verifier,
        patient_rut=rut,
        status=refusal.status,
        resource=request.url.path,
        request_id=getattr(request.state, "request_id", None),
    )


async def idempotency_key(idempotency_key: Annotated[str | None, Header()] = None) -> str:
    return idempotency_key_of(idempotency_key)


DatabaseDep = Annotated[Database, Depends(get_database)]
RequestId = Annotated[str, Depends(get_request_id)]
IdempotencyKey = Annotated[str, Depends(idempotency_key)]
Staff = Annotated[Caller, Depends(caller_with(Role.CLERK, Role.ACCOUNTANT))]
Clerk = Staff
ClerkOnly = Annotated[Caller, Depends(caller_with(Role.CLERK))]
Accountant = Annotated[Caller, Depends(caller_with(Role.ACCOUNTANT))]
# A patient (relayed by the middleware) reads only their own records.
Reader = Annotated[Caller, Depends(caller_with(Role.CLERK, Role.ACCOUNTANT, Role.PATIENT))]
# Demographics and coverage also for the care team, relayed with a patient's history.
ChartReader = Annotated[
    Caller,
    Depends(caller_with(Role.CLERK, Role.ACCOUNTANT, Role.PATIENT, Role.DOCTOR, Role.NURSE)),
]
Payer = Annotated[Caller, Depends(caller_with(Role.ACCOUNTANT, Role.PATIENT))]
# The portal, before anyone logged in, looking up where to mail an account link.
AccountLinkErrand = Annotated[Caller, Depends(caller_with(Role.PATIENT, errand=Scope.ACCOUNT_LINK))]
# Finding patients: the front office, and the care team relayed from the clinical workspace.
Finder = Annotated[
    Caller, Depends(caller_with(Role.CLERK, Role.ACCOUNTANT, Role.DOCTOR, Role.NURSE))
]
