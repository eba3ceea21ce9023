"""Usuarios: an account administrator (``--administrator``; the demo's adm.vera) creates
clerks' and accountants' accounts, resets a password or a lost second factor and
deactivates an account, from a page instead of curl. The directory's rules and audit rows
are the JSON API's (``core.staff``); every form is recorded once with its key, and a new
password is shown on the answer to its first submission only (never stored in clear).
Forms that hash a password run in the thread pool, off the event loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from medsys.admin.office.web import PREFIX, ROLE_NAMES, form_of, person, render, submitted
from medsys.core.auth import Caller
from medsys.core.errors import InvalidInput
from medsys.core.tokens import Role

router = APIRouter(prefix=PREFIX, include_in_schema=False)
PAGE = f"{PREFIX}/usuarios"


def _administrator(request: Request) -> Caller:
    caller = person(request)
    request.app.state.staff.require_administrator(caller.in_person())
    return caller


Administrator = Annotated[Caller, Depends(_administrator)]


def _page(request: Request, caller: Caller, issued: dict[str, str] | None = None) -> HTMLResponse:
    return render(
        request,
        "office_users.html",
        service_name="la oficina (recepción y contabilidad)",
        accounts=request.app.state.staff.accounts(),
        me=caller.in_person(),
        role_names={role.value: name for role, name in ROLE_NAMES.items()},
        roles=[(role.value, name) for role, name in ROLE_NAMES.items()],
        issued=issued,
        users_action=PAGE,
        asks_rut=False,
        form_fields="_office_form.html",
    )


async def _issuing(
    request: Request,
    caller: Caller,
    form: dict[str, str],
    work: Callable[[Session], str],
    issued: dict[str, str],
) -> Response:
    """A form that makes a password (hashing it off the event loop): the password is shown
    on the answer to its first submission, never again."""
    return await run_in_threadpool(
        submitted, request, caller, form, work, "", PAGE, lambda: _page(request, caller, issued)
    )


@router.get("/usuarios", response_class=HTMLResponse)
def users(request: Request, caller: Administrator) -> HTMLResponse:
    return _page(request, caller)


@router.post("/usuarios", response_model=None)
async def add_user(request: Request, caller: Administrator) -> Response:
    form = await form_of(request)
    issued = {"what": "Cuenta creada:", "username": form.get("usuario", "").strip().lower()}

    def work(session: Session) -> str:
        try:
            role = Role(form.get("rol", ""))
        except ValueError:
            raise InvalidInput("Indique un rol de la oficina.") from None
        issued["password"] = request.app.state.staff.add_in(
            session,
            username=issued["username"],
            full_name=form.get("nombre", ""),
            role=role,
            administrator=form.get("administrador") == "1",
            by=caller.in_person(),
        )
        return PAGE

    return await _issuing(request, caller, form, work, issued)


@router.post("/usuarios/{username}/clave", response_model=None)
async def reset_password(request: Request, username: str, caller: Administrator) -> Response:
    form = await form_of(request)
    issued = {"what": "Contraseña restablecida de", "username": username}

    def work(session: Session) -> str:
        issued["password"] = request.app.state.staff.reset_password_in(
            session, username, by=caller.in_person()
        )
        return PAGE

    return await _issuing(request, caller, form, work, issued)


@router.post("/usuarios/{username}/segundo-factor", response_model=None)
async def remove_second_factor(request: Request, username: str, caller: Administrator) -> Response:
    form = await form_of(request)

    def work(session: Session) -> str:
        request.app.state.staff.remove_second_factor_in(session, username, by=caller.in_person())
        return PAGE

    done = f"Segundo factor quitado a {username}: sus sesiones terminaron."
    return submitted(request, caller, form, work, done, PAGE)


@router.post("/usuarios/{username}/desactivar", response_model=None)
async def deactivate(request: Request, username: str, caller: Administrator) -> Response:
    form = await form_of(request)

    def work(session: Session) -> str:
        request.app.state.staff.deactivate_in(session, username, by=caller.in_person())
        return PAGE

    done = f"Cuenta {username} desactivada: sus sesiones terminaron."
    return submitted(request, caller, form, work, done, PAGE)
