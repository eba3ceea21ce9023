"""Staff login: a username and password for a bearer token."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app
from sqlalchemy import select

from medsys.clinical.app import database
from medsys.clinical.models import Staff
from medsys.clinical.schemas import Login
from medsys.clinical.web import body
from medsys.core.errors import Unauthenticated
from medsys.core.passwords import verify_password
from medsys.core.tokens import Role, issue_token

blueprint = Blueprint("auth", __name__, url_prefix="/auth")


@blueprint.post("/login")
def login() -> dict[str, Any]:
    credentials = body(Login)
    staff = database().read(
        lambda s: s.scalar(select(Staff).where(Staff.username == credentials.username))
    )
    stored = staff.password_hash if staff and staff.active else None
    if not verify_password(stored, credentials.password) or staff is None:
        raise Unauthenticated("Usuario o contraseña incorrectos.")
    token = issue_token(current_app.config["TOKEN_KEY"], Role(staff.role), staff.username)
    return {"token": token, "role": staff.role, "name": staff.full_name}
