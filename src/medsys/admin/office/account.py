"""Mi cuenta: a clerk or accountant changes their own password and turns on a second
factor, from the page, not with curl. The same directory rules as the JSON API
(``core.staff``); the password change and the confirmation are recorded once with the
form's key. Hashing a password takes tens of milliseconds of CPU, so those forms run in
the thread pool, off the event loop."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from medsys.admin.office.pages import Staff
from medsys.admin.office.web import (
    PREFIX,
    ROLE_NAMES,
    flash,
    form_of,
    render,
    signed_out,
    submitted,
)
from medsys.core.auth import Caller
from medsys.core.errors import InvalidInput, MedsysError
from medsys.core.staff import MINIMUM_PASSWORD

router = APIRouter(prefix=PREFIX, include_in_schema=False)
PAGE = f"{PREFIX}/cuenta"
LOGIN = f"{PREFIX}/ingresar"


def _page(
    request: Request, caller: Caller, enrolling: dict[str, str] | None = None, status: int = 200
) -> HTMLResponse:
    who = caller.in_person()
    return render(
        request,
        "office_account.html",
        status,
        who=who,
        full_name=request.session.get("name", who),
        role_name=ROLE_NAMES.get(caller.role, caller.role.value),
        second_factor_on=request.app.state.staff.second_factor_on(who),
        enrolling=enrolling,
        minimum_password=MINIMUM_PASSWORD,
        password_action=f"{PAGE}/clave",
        begin_action=f"{PAGE}/segundo-factor",
        confirm_action=f"{PAGE}/segundo-factor/confirmar",
        form_fields="_office_form.html",
    )


@router.get("/cuenta", response_class=HTMLResponse)
def account(request: Request, caller: Staff) -> HTMLResponse:
    return _page(request, caller)


@router.post("/cuenta/clave", response_model=None)
async def change_password(request: Request, caller: Staff) -> Response:
    form = await form_of(request)
    who = caller.in_person()

    def work(session: Session) -> str:
        if form.get("clave_nueva", "") != form.get("clave_repetida", ""):
            raise InvalidInput("La contraseña nueva y su repetición no coinciden.")
        request.app.state.staff.change_password_in(
            session, who, form.get("clave_actual", ""), form.get("clave_nueva", "")
        )
        return LOGIN

    done = "Contraseña cambiada. Ingrese con la nueva."
    answer = await run_in_threadpool(submitted, request, caller, form, work, done, PAGE)
    if answer.headers.get("location") == LOGIN:
        signed_out(request)  # every session ended, this one too; the notice stays
    return answer


@router.post("/cuenta/segundo-factor", response_model=None)
async def begin_second_factor(request: Request, caller: Staff) -> Response:
    # Not recorded once: each request makes a new pending secret and shows it, so the
    # page a person reads always holds the secret the directory will check.
    form = await form_of(request)
    try:
        enrolling = await run_in_threadpool(
            request.app.state.staff.begin_second_factor,
            caller.in_person(),
            form.get("clave", ""),
        )
    except MedsysError as refusal:
        flash(request, refusal.message, "error")
        return _page(request, caller, status=refusal.status)
    return _page(request, caller, enrolling)


@router.post("/cuenta/segundo-factor/confirmar", response_model=None)
async def confirm_second_factor(request: Request, caller: Staff) -> Response:
    form = await form_of(request)
    who = caller.in_person()

    def work(session: Session) -> str:
        request.app.state.staff.confirm_second_factor_in(session, who, form.get("codigo", ""))
        return PAGE

    done = "Segundo factor activado: desde ahora se le pedirá el código."
    return submitted(request, caller, form, work, done, PAGE)
