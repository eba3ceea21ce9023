"""Clerks' and accountants' accounts over JSON: the same routes and rules as clinical's
``/auth`` (core.staff), for this service's roles."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from medsys.admin.deps import Staff
from medsys.core.auth import Caller
from medsys.core.errors import Forbidden, InvalidInput
from medsys.core.staff import StaffDirectory
from medsys.core.staff_schemas import (
    CodeIn,
    LoginIn,
    NewAccountIn,
    PasswordChangeIn,
    PasswordIn,
    RefreshIn,
)
from medsys.core.tokens import parse_role

router = APIRouter(prefix="/auth", tags=["accounts"])


async def get_staff(request: Request) -> StaffDirectory:
    directory: StaffDirectory = request.app.state.staff
    return directory


Directory = Annotated[StaffDirectory, Depends(get_staff)]


def _address(request: Request) -> str:
    # nginx passes the client's address on; uvicorn trusts it from nginx only.
    return (request.client.host if request.client else "desconocida")[:64]


def _in_person(caller: Caller) -> str:
    if caller.claims.acting_for is not None:
        raise Forbidden("Esta acción la hace la persona misma, no un servicio.")
    return caller.who


async def _administrator(directory: StaffDirectory, caller: Caller) -> str:
    username = _in_person(caller)
    if not await run_in_threadpool(directory.is_administrator, username):
        raise Forbidden("Solo un administrador de cuentas puede hacer esto.")
    return username


@router.post("/login")
def login(given: LoginIn, request: Request, directory: Directory) -> dict[str, Any]:
    return directory.login(given.username, given.password, given.code, _address(request))


@router.post("/refresh")
def refresh(given: RefreshIn, directory: Directory) -> dict[str, Any]:
    return directory.refresh(given.session)


@router.post("/logout")
def logout(caller: Staff, directory: Directory, everywhere: bool = False) -> dict[str, Any]:
    return {"ended_sessions": directory.logout(caller.claims, everywhere=everywhere)}


@router.post("/password")
def change_password(given: PasswordChangeIn, caller: Staff, directory: Directory) -> dict[str, Any]:
    ended = directory.change_password(
        _in_person(caller), given.current_password, given.new_password
    )
    return {"message": "Contraseña actualizada; ingrese nuevamente.", "ended_sessions": ended}


@router.post("/second-factor")
def begin_second_factor(given: PasswordIn, caller: Staff, directory: Directory) -> dict[str, Any]:
    return directory.begin_second_factor(_in_person(caller), given.password)


@router.post("/second-factor/confirm")
def confirm_second_factor(given: CodeIn, caller: Staff, directory: Directory) -> dict[str, Any]:
    directory.confirm_second_factor(_in_person(caller), given.code)
    return {"message": "Segundo factor activado."}


@router.get("/users")
async def list_users(caller: Staff, directory: Directory) -> dict[str, Any]:
    await _administrator(directory, caller)
    return {"users": await run_in_threadpool(directory.accounts)}


@router.post("/users", status_code=201)
async def add_user(given: NewAccountIn, caller: Staff, directory: Directory) -> dict[str, Any]:
    await _administrator(directory, caller)
    try:
        role = parse_role(given.role)
    except ValueError as error:
        raise InvalidInput(f"Datos inválidos: {error}") from None
    password = await run_in_threadpool(
        lambda: directory.add(
            username=given.username,
            full_name=given.full_name,
            role=role,
            administrator=given.administrator,
        )
    )
    return {"username": given.username.lower(), "password": password}


@router.post("/users/{username}/deactivate")
async def deactivate_user(username: str, caller: Staff, directory: Directory) -> dict[str, Any]:
    if await _administrator(directory, caller) == username:
        raise InvalidInput("No puede desactivar su propia cuenta.")
    return {"ended_sessions": await run_in_threadpool(directory.deactivate, username)}


@router.post("/users/{username}/reset-password")
async def reset_user_password(username: str, caller: Staff, directory: Directory) -> dict[str, Any]:
    await _administrator(directory, caller)
    password = await run_in_threadpool(directory.reset_password, username)
    return {"username": username, "password": password}
