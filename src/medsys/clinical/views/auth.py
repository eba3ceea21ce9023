"""Staff accounts over JSON: login (lockout, optional second factor), session refresh and
logout, one's own password and second factor, and the administration of accounts by a
clinical administrator. The logic is core.staff's, shared with admin."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from medsys.clinical.app import staff_directory
from medsys.clinical.web import body, current_caller, requires
from medsys.core.errors import Forbidden, InvalidInput
from medsys.core.rut import InvalidRutError, normalize_rut
from medsys.core.staff_schemas import (
    CodeIn,
    LoginIn,
    NewAccountIn,
    PasswordChangeIn,
    PasswordIn,
    RefreshIn,
)
from medsys.core.tokens import Role, parse_role

blueprint = Blueprint("auth", __name__, url_prefix="/auth")
STAFF = (Role.DOCTOR, Role.NURSE)


def _address() -> str:
    return (request.remote_addr or "desconocida")[:64]


@blueprint.post("/login")
def login() -> dict[str, Any]:
    given = body(LoginIn)
    return staff_directory().login(given.username, given.password, given.code, _address())


@blueprint.post("/refresh")
def refresh() -> dict[str, Any]:
    return staff_directory().refresh(body(RefreshIn).session)


@blueprint.post("/logout")
@requires(*STAFF)
def logout() -> dict[str, Any]:
    everywhere = request.args.get("everywhere") == "1"
    ended = staff_directory().logout(current_caller().claims, everywhere=everywhere)
    return {"ended_sessions": ended}


def _own_login() -> str:
    """The staff member in person (a relayed call cannot change an account)."""
    caller = current_caller()
    if caller.claims.acting_for is not None:
        raise Forbidden("Esta acción la hace la persona misma, no un servicio.")
    return caller.who


@blueprint.post("/password")
@requires(*STAFF)
def change_password() -> dict[str, Any]:
    given = body(PasswordChangeIn)
    ended = staff_directory().change_password(
        _own_login(), given.current_password, given.new_password
    )
    return {"message": "Contraseña actualizada; ingrese nuevamente.", "ended_sessions": ended}


@blueprint.post("/second-factor")
@requires(*STAFF)
def begin_second_factor() -> dict[str, Any]:
    return staff_directory().begin_second_factor(_own_login(), body(PasswordIn).password)


@blueprint.post("/second-factor/confirm")
@requires(*STAFF)
def confirm_second_factor() -> dict[str, Any]:
    staff_directory().confirm_second_factor(_own_login(), body(CodeIn).code)
    return {"message": "Segundo factor activado."}


def _administrator() -> str:
    username = _own_login()
    if not staff_directory().is_administrator(username):
        raise Forbidden("Solo un administrador de cuentas puede hacer esto.")
    return username


@blueprint.get("/users")
@requires(*STAFF)
def list_users() -> dict[str, Any]:
    _administrator()
    return {"users": staff_directory().accounts()}


@blueprint.post("/users")
@requires(*STAFF)
def add_user() -> tuple[dict[str, Any], int]:
    _administrator()
    given = body(NewAccountIn)
    try:
        role = parse_role(given.role)
        rut = normalize_rut(given.rut or "")
    except (ValueError, InvalidRutError) as error:
        raise InvalidInput(f"Datos inválidos: {error}") from None
    password = staff_directory().add(
        username=given.username,
        full_name=given.full_name,
        role=role,
        administrator=given.administrator,
        rut=rut,
        specialty=given.specialty if role is Role.DOCTOR else None,
    )
    return {"username": given.username.lower(), "password": password}, 201


@blueprint.post("/users/<username>/deactivate")
@requires(*STAFF)
def deactivate_user(username: str) -> dict[str, Any]:
    if _administrator() == username:
        raise InvalidInput("No puede desactivar su propia cuenta.")
    return {"ended_sessions": staff_directory().deactivate(username)}


@blueprint.post("/users/<username>/reset-password")
@requires(*STAFF)
def reset_user_password(username: str) -> dict[str, Any]:
    _administrator()
    return {"username": username, "password": staff_directory().reset_password(username)}
