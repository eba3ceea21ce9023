"""Clerks' and accountants' accounts over JSON: the same routes and rules as clinical's
``/auth`` (core.staff), for this service's roles."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from medsys.admin.deps import Staff
from medsys.core.api_docs import errors
from medsys.core.auth import Caller
from medsys.core.errors import InvalidInput
from medsys.core.staff import CREDENTIALS_UPDATED, SECOND_FACTOR_ON, StaffDirectory
from medsys.core.staff_schemas import (
    AccountsOut,
    CodeIn,
    EndedSessionsOut,
    EnrolmentOut,
    IssuedPasswordOut,
    LoginIn,
    MessageOut,
    NewAccountIn,
    PasswordChangedOut,
    PasswordChangeIn,
    PasswordIn,
    RefreshIn,
    SessionOut,
)
from medsys.core.tokens import parse_role

router = APIRouter(
    prefix="/auth", tags=["accounts"], responses=errors(400, 401, 403, 404, 409, 422, 429, 503)
)


async def get_staff(request: Request) -> StaffDirectory:
    directory: StaffDirectory = request.app.state.staff
    return directory


Directory = Annotated[StaffDirectory, Depends(get_staff)]


def _address(request: Request) -> str:
    # nginx passes the client's address on; uvicorn trusts it from nginx only.
    return (request.client.host if request.client else "desconocida")[:64]


async def _administrator(directory: StaffDirectory, caller: Caller) -> str:
    return await run_in_threadpool(directory.require_administrator, caller.in_person())


@router.post("/login", response_model=SessionOut)
def login(given: LoginIn, request: Request, directory: Directory) -> dict[str, Any]:
    return directory.login(given.username, given.password, given.code, _address(request))


@router.post("/refresh", response_model=SessionOut)
def refresh(given: RefreshIn, directory: Directory) -> dict[str, Any]:
    return directory.refresh(given.session)


@router.post("/logout", response_model=EndedSessionsOut)
def logout(caller: Staff, directory: Directory, everywhere: bool = False) -> dict[str, Any]:
    return {"ended_sessions": directory.logout(caller.claims, everywhere=everywhere)}


@router.post("/password", response_model=PasswordChangedOut)
def change_password(given: PasswordChangeIn, caller: Staff, directory: Directory) -> dict[str, Any]:
    ended = directory.change_password(
        caller.in_person(), given.current_password, given.new_password
    )
    return {"message": CREDENTIALS_UPDATED, "ended_sessions": ended}


@router.post("/second-factor", response_model=EnrolmentOut)
def begin_second_factor(given: PasswordIn, caller: Staff, directory: Directory) -> dict[str, Any]:
    return directory.begin_second_factor(caller.in_person(), given.password)


@router.post("/second-factor/confirm", response_model=MessageOut)
def confirm_second_factor(given: CodeIn, caller: Staff, directory: Directory) -> dict[str, Any]:
    directory.confirm_second_factor(caller.in_person(), given.code)
    return {"message": SECOND_FACTOR_ON}


@router.get("/users", response_model=AccountsOut)
async def list_users(caller: Staff, directory: Directory) -> dict[str, Any]:
    await _administrator(directory, caller)
    return {"users": await run_in_threadpool(directory.accounts)}


@router.post("/users", status_code=201, response_model=IssuedPasswordOut)
async def add_user(given: NewAccountIn, caller: Staff, directory: Directory) -> dict[str, Any]:
    by = await _administrator(directory, caller)
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
            by=by,
        )
    )
    return {"username": given.username.lower(), "password": password}


@router.post("/users/{username}/deactivate", response_model=EndedSessionsOut)
async def deactivate_user(username: str, caller: Staff, directory: Directory) -> dict[str, Any]:
    administrator = await _administrator(directory, caller)
    ended = await run_in_threadpool(lambda: directory.deactivate(username, by=administrator))
    return {"ended_sessions": ended}


@router.post("/users/{username}/reset-password", response_model=IssuedPasswordOut)
async def reset_user_password(username: str, caller: Staff, directory: Directory) -> dict[str, Any]:
    by = await _administrator(directory, caller)
    password = await run_in_threadpool(lambda: directory.reset_password(username, by=by))
    return {"username": username, "password": password}


@router.post("/users/{username}/reset-second-factor", response_model=EndedSessionsOut)
async def reset_user_second_factor(
    username: str, caller: Staff, directory: Directory
) -> dict[str, Any]:
    """A lost phone: the account's second factor is removed and its sessions end."""
    by = await _administrator(directory, caller)
    ended = await run_in_threadpool(lambda: directory.remove_second_factor(username, by=by))
    return {"ended_sessions": ended}
