"""Usuarios: an account administrator (``--administrator``; the demo's dra.soto) creates
doctors' and nurses' accounts, resets a password or a lost second factor and deactivates
an account, from a page instead of curl. The directory's rules and audit rows are the
JSON API's (``core.staff``); every form is recorded once with its key, and a new password
is shown on the answer to its first submission only (it is never stored in clear)."""

from __future__ import annotations

from collections.abc import Callable

from flask import make_response, render_template, request, url_for
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from medsys.clinical.extensions import staff_directory
from medsys.clinical.workspace.common import blueprint, submitted
from medsys.clinical.workspace.session import ROLE_NAMES, STAFF, caller, staff_page
from medsys.core.errors import InvalidInput
from medsys.core.rut import InvalidRutError, normalize_rut
from medsys.core.tokens import Role

PAGE = "workspace.users"


def _administrator() -> str:
    return staff_directory().require_administrator(caller().in_person())


def _page(issued: dict[str, str] | None = None) -> str:
    return render_template(
        "users.html",
        service_name="la clínica (médicos y enfermería)",
        accounts=staff_directory().accounts(),
        me=caller().in_person(),
        role_names={role.value: name for role, name in ROLE_NAMES.items()},
        roles=[(role.value, ROLE_NAMES[role]) for role in STAFF],
        issued=issued,
        users_action=url_for(PAGE),
        asks_rut=True,
        form_fields="_form.html",
    )


def _issuing(work: Callable[[Session], str], what: str, issued: dict[str, str]) -> Response:
    """A form that makes a password: shown on its first answer, never again."""
    return submitted(work, what, PAGE, shown=lambda: make_response(_page(issued)))


@blueprint.get("/usuarios")
@staff_page()
def users() -> str:
    _administrator()
    return _page()


@blueprint.post("/usuarios")
@staff_page()
def add_user() -> Response:
    by = _administrator()
    form = request.form
    issued: dict[str, str] = {"what": "Cuenta creada:"}

    def work(db: Session) -> str:
        try:
            role = Role(form.get("rol", ""))
            rut = normalize_rut(form.get("rut", ""))
        except (ValueError, InvalidRutError):
            raise InvalidInput("Indique un rol del equipo clínico y un RUT válido.") from None
        issued["username"] = form.get("usuario", "").strip().lower()
        issued["password"] = staff_directory().add_in(
            db,
            username=issued["username"],
            full_name=form.get("nombre", ""),
            role=role,
            administrator=form.get("administrador") == "1",
            rut=rut,
            specialty=(form.get("especialidad", "").strip() or None)
            if role is Role.DOCTOR
            else None,
            by=by,
        )
        return url_for(PAGE)

    return _issuing(work, "Cuenta creada.", issued)


@blueprint.post("/usuarios/<username>/clave")
@staff_page()
def reset_password(username: str) -> Response:
    by = _administrator()
    issued = {"what": "Contraseña restablecida de", "username": username}

    def work(db: Session) -> str:
        issued["password"] = staff_directory().reset_password_in(db, username, by=by)
        return url_for(PAGE)

    return _issuing(work, "Contraseña restablecida.", issued)


@blueprint.post("/usuarios/<username>/segundo-factor")
@staff_page()
def remove_second_factor(username: str) -> Response:
    by = _administrator()

    def work(db: Session) -> str:
        staff_directory().remove_second_factor_in(db, username, by=by)
        return url_for(PAGE)

    done = f"Segundo factor quitado a {username}: sus sesiones terminaron."
    return submitted(work, done, PAGE)


@blueprint.post("/usuarios/<username>/desactivar")
@staff_page()
def deactivate(username: str) -> Response:
    by = _administrator()

    def work(db: Session) -> str:
        staff_directory().deactivate_in(db, username, by=by)
        return url_for(PAGE)

    return submitted(work, f"Cuenta {username} desactivada: sus sesiones terminaron.", PAGE)
