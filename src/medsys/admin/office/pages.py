"""Login, and the clerk's patients: search, registration, edit, coverage, summary."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from medsys.admin import records
from medsys.admin.office.phone_bookings import bookings_of, upcoming
from medsys.admin.office.web import (
    PREFIX,
    flash,
    form_of,
    person,
    portal,
    render,
    submitted,
)
from medsys.admin.present import patients_with_coverage, payment_json, summary_json
from medsys.admin.schemas import CoverageIn, PatientIn, PatientPatch
from medsys.core.audit import actions_of
from medsys.core.auth import Caller, audit_accesses
from medsys.core.clock import SANTIAGO
from medsys.core.errors import MedsysError, NotFound
from medsys.core.rut import InvalidRutError, normalize_rut
from medsys.core.staff import Locked, SecondFactorRequired
from medsys.core.tokens import Role
from medsys.core.validation import validate

router = APIRouter(prefix=PREFIX, include_in_schema=False)
SEXES = ["femenino", "masculino", "otro", "no informado"]
INSURERS = ["FONASA", "ISAPRE", "CAPREDENA", "DIPRECA", "PARTICULAR"]


def staff(request: Request) -> Caller:
    return person(request)


def clerk(request: Request) -> Caller:
    return person(request, Role.CLERK)


Staff = Annotated[Caller, Depends(staff)]
Clerk = Annotated[Caller, Depends(clerk)]


def audited(
    session: Session,
    request: Request,
    caller: Caller,
    rut: str,
    action: str,
    resource: str = "patient",
) -> None:
    """The same audit row as the JSON API's, in the name of the person at the page."""
    audited_each(session, request, caller, [rut], action, resource)


def audited_each(
    session: Session,
    request: Request,
    caller: Caller,
    ruts: list[str],
    action: str,
    resource: str = "patient",
) -> None:
    """One such row for each patient a page showed, in one statement."""
    audit_accesses(
        session,
        caller,
        action=action,
        resource=resource,
        patient_ruts=ruts,
        request_id=getattr(request.state, "request_id", None),
    )


# --- login ---------------------------------------------------------------------------------
@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}/pacientes", status_code=303)


@router.get("/ingresar", response_class=HTMLResponse)
def login(request: Request, next: str = "") -> HTMLResponse:
    return render(request, "office_login.html", next=next, ask_code=False, username="")


@router.post("/ingresar", response_model=None)
async def login_submit(request: Request) -> Response:
    form = await form_of(request)
    username, target = form.get("usuario", "").strip(), form.get("next", "")
    address = (request.client.host if request.client else "desconocida")[:64]
    try:
        grant = request.app.state.staff.login(
            username, form.get("clave", ""), form.get("codigo", "").strip() or None, address
        )
    except SecondFactorRequired as needed:
        return render(
            request,
            "office_login.html",
            200,
            next=target,
            ask_code=True,
            username=username,
            notice=needed.message,
        )
    except (Locked, MedsysError) as refusal:
        status = refusal.status if refusal.status in (401, 429) else 400
        return render(
            request,
            "office_login.html",
            status,
            next=target,
            ask_code=bool(form.get("codigo")),
            username=username,
            problem=refusal.message,
        )
    request.session.clear()
    request.session.update(
        token=grant["token"],
        sid=grant["session"],
        name=grant["name"],
        role=grant["role"],
        administrator=bool(grant.get("administrator")),  # the menu's "Usuarios"
    )
    safe = target if target.startswith(f"{PREFIX}/") and not target.startswith("//") else ""
    return RedirectResponse(safe or f"{PREFIX}/pacientes", status_code=303)


@router.post("/salir", response_model=None)
async def logout(request: Request, caller: Staff) -> Response:
    await form_of(request)
    request.app.state.staff.logout(caller.claims)
    request.session.clear()
    return RedirectResponse(f"{PREFIX}/ingresar", status_code=303)


# --- patients ------------------------------------------------------------------------------
@router.get("/pacientes", response_class=HTMLResponse)
def patients(request: Request, caller: Staff, q: str = "") -> HTMLResponse:
    text = q.strip()[:80]

    def read(session: Session) -> list[dict[str, Any]]:
        found = records.search_patients(session, text=text, ruts=[], page=1, per_page=50)
        audited_each(session, request, caller, [p.rut for p in found], "read")
        return patients_with_coverage(session, found)

    found = request.app.state.database.write(read) if len(text) >= 2 else None
    return render(request, "office_patients.html", q=text, found=found)


@router.get("/pacientes/nuevo", response_class=HTMLResponse)
def new_patient(request: Request, caller: Clerk, rut: str = "") -> HTMLResponse:
    return render(request, "office_patient_form.html", patient=None, rut=rut, sexes=SEXES)


def _patient_fields(form: dict[str, str]) -> dict[str, Any]:
    names = [
        "nombre",
        "email",
        "telefono",
        "direccion",
        "fecha_nacimiento",
        "sexo",
        "contacto_emergencia",
        "telefono_emergencia",
    ]
    return {name: form.get(name, "").strip() or None for name in names}


@router.post("/pacientes", response_model=None)
async def register(request: Request, caller: Clerk) -> Response:
    form = await form_of(request)

    def work(session: Session) -> str:
        data = validate(PatientIn, {"rut": form.get("rut", ""), **_patient_fields(form)})
        created = records.create_patient(session, data=data)
        audited(session, request, caller, created.rut, "create")
        return f"{PREFIX}/pacientes/{created.rut}"

    back = f"{PREFIX}/pacientes/nuevo"
    return submitted(request, caller, form, work, "Paciente inscrito.", back)


def patient_rut(text: str) -> str:
    try:
        return normalize_rut(text)
    except InvalidRutError as error:
        raise NotFound(str(error)) from None


@router.get("/pacientes/{rut}", response_class=HTMLResponse)
def patient_page(request: Request, rut: str, caller: Staff) -> HTMLResponse:
    wanted = patient_rut(rut)

    def read(session: Session) -> dict[str, Any]:
        records.patient(session, rut=wanted)
        audited(session, request, caller, wanted, "read")
        return {
            **summary_json(session, wanted),
            "payments": [payment_json(p) for p in records.payments_of(session, rut=wanted)],
            "bookings": upcoming(bookings_of(session, wanted)),
            "pending": [
                {
                    "consultation_id": c.consultation_id,
                    "description": c.description,
                    "amount": c.amount,
                }
                for c in records.pending_charges(session, rut=wanted)
            ],
        }

    seen = request.app.state.database.write(read)
    return render(
        request,
        "office_patient.html",
        sexes=SEXES,
        insurers=INSURERS,
        today=datetime.now(SANTIAGO).date().isoformat(),
        **seen,
    )


@router.post("/pacientes/{rut}", response_model=None)
async def edit(request: Request, rut: str, caller: Clerk) -> Response:
    wanted = patient_rut(rut)
    form = await form_of(request)

    def work(session: Session) -> str:
        fields = {k: v for k, v in _patient_fields(form).items() if v is not None}
        change = validate(PatientPatch, fields)
        records.update_patient(session, rut=wanted, change=change)
        audited(session, request, caller, wanted, "update")
        return f"{PREFIX}/pacientes/{wanted}"

    return submitted(
        request, caller, form, work, "Datos actualizados.", f"{PREFIX}/pacientes/{wanted}"
    )


@router.post("/pacientes/{rut}/prevision", response_model=None)
async def add_coverage(request: Request, rut: str, caller: Clerk) -> Response:
    wanted = patient_rut(rut)
    form = await form_of(request)

    def work(session: Session) -> str:
        given: dict[str, Any] = {
            key: form.get(key, "").strip() or None
            for key in ("insurer", "tramo", "modality", "plan", "percent", "valid_from")
        }
        if given["percent"] is not None:
            with contextlib.suppress(ValueError):  # else the schema says what is wrong
                given["percent"] = int(given["percent"])
        data = validate(CoverageIn, given)
        records.add_coverage(session, rut=wanted, data=data)
        audited(session, request, caller, wanted, "update")
        return f"{PREFIX}/pacientes/{wanted}"

    return submitted(
        request, caller, form, work, "Previsión registrada.", f"{PREFIX}/pacientes/{wanted}"
    )


@router.post("/pacientes/{rut}/portal/quitar-segundo-factor", response_model=None)
async def remove_portal_second_factor(request: Request, rut: str, caller: Clerk) -> Response:
    """A patient who lost the phone, at reception with an ID card: the portal forgets the
    second factor and ends the patient's sessions (the portal audits it in the clerk's
    name; this office's log says so too)."""
    wanted = patient_rut(rut)
    form = await form_of(request)
    page = f"{PREFIX}/pacientes/{wanted}"
    if form.get("cedula_vista") != "si":
        flash(request, "Primero verifique la cédula de identidad del paciente.", "error")
        return RedirectResponse(page, status_code=303)

    def work(session: Session) -> str:
        records.patient(session, rut=wanted)
        portal(request, caller, "POST", f"/api/accounts/{wanted}/second-factor/remove")
        audited(session, request, caller, wanted, "reset-second-factor", "portal-account")
        return page

    done = "Segundo factor del portal quitado: el paciente entra con su contraseña."
    return submitted(request, caller, form, work, done, page)


@router.get("/mis-acciones", response_class=HTMLResponse)
def my_actions(request: Request, caller: Staff) -> HTMLResponse:
    """What the person logged in did here, from admin's audit log."""
    entries = request.app.state.database.read(
        lambda session: actions_of(session, actor=caller.who, limit=200)
    )
    return render(request, "office_actions.html", entries=entries)
