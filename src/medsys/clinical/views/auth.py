"""Staff accounts over JSON: login (lockout, optional second factor), session refresh and
logout, one's own password and second factor, and the administration of accounts by a
clinical administrator. The logic is core.staff's, shared with admin."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from medsys.clinical.extensions import staff_directory
from medsys.clinical.web import body, current_caller, requires
from medsys.core.errors import InvalidInput
from medsys.core.rut import InvalidRutError, normalize_rut
from medsys.core.staff import CREDENTIALS_UPDATED, SECOND_FACTOR_ON
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


@blueprint.post("/password")
@requires(*STAFF)
def change_password() -> dict[str, Any]:
    given = body(PasswordChangeIn)
    ended = staff_directory().change_password(
        current_caller().in_person(), given.current_password, given.new_password
    )
    return {"message": CREDENTIALS_UPDATED, "ended_sessions": ended}


@blueprint.post("/second-factor")
@requires(*STAFF)
def begin_second_factor() -> dict[str, Any]:
    return staff_directory().begin_second_factor(
        current_caller().in_person(), body(PasswordIn).password
    )


@blueprint.post("/second-factor/confirm")
@requires(*STAFF)
def confirm_second_factor() -> dict[str, Any]:
    staff_directory().confirm_second_factor(current_caller().in_person(), body(CodeIn).code)
    return {"message": SECOND_FACTOR_ON}


def _administrator() -> str:
    return staff_directory().require_administrator(current_caller().in_person())


@blueprint.get("/users")
@requires(*STAFF)
def list_users() -> dict[str, Any]:
    _administrator()
    return {"users": staff_directory().accounts()}


@blueprint.post("/users")
@requires(*STAFF)
def add_user() -> tuple[dict[str, Any], int]:
    by = _administrator()
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
        by=by,
    )
    return {"username": given.username.lower(), "password": password}, 201


@blueprint.post("/users/<username>/deactivate")
@requires(*STAFF)
def deactivate_user(username: str) -> dict[str, Any]:
    ended = staff_directory().deactivate(username, by=_administrator())
    return {"ended_sessions": ended}


@blueprint.post("/users/<username>/reset-password")
@requires(*STAFF)
def reset_user_password(username: str) -> dict[str, Any]:
    by = _administrator()
    return {"username": username, "password": staff_directory().reset_password(username, by=by)}


@blueprint.post("/users/<username>/reset-second-factor")
@requires(*STAFF)
def reset_user_second_factor(username: str) -> dict[str, Any]:
    """A lost phone: the account's second factor is removed and its sessions end."""
    by = _administrator()
    return {"ended_sessions": staff_directory().remove_second_factor(username, by=by)}
