"""FastAPI dependencies: the database, the caller with the right role, the request id."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Header, Request

from medsys.core.auth import Caller, authenticate
from medsys.core.db import ReplicatedDatabase
from medsys.core.tokens import Role


def get_database(request: Request) -> ReplicatedDatabase:
    database: ReplicatedDatabase = request.app.state.database
    return database


def get_request_id(x_request_id: Annotated[str | None, Header()] = None) -> str:
    return (x_request_id or uuid.uuid4().hex)[:64]


def caller_with(*roles: Role) -> Callable[[Request], Caller]:
    def dependency(request: Request) -> Caller:
        return authenticate(request.headers, request.app.state.token_key, roles)

    return dependency


def idempotency_key(idempotency_key: Annotated[str | None, Header()] = None) -> str:
    from medsys.core.errors import MalformedRequest

    key = (idempotency_key or "").strip()
    if not 8 <= len(key) <= 64:
        raise MalformedRequest("Falta la cabecera Idempotency-Key (8 a 64 caracteres).")
    return key


DatabaseDep = Annotated[ReplicatedDatabase, Depends(get_database)]
RequestId = Annotated[str, Depends(get_request_id)]
IdempotencyKey = Annotated[str, Depends(idempotency_key)]
Clerk = Annotated[Caller, Depends(caller_with(Role.CLERK, Role.ACCOUNTANT))]
ClerkOnly = Annotated[Caller, Depends(caller_with(Role.CLERK))]
Accountant = Annotated[Caller, Depends(caller_with(Role.ACCOUNTANT))]
Reader = Annotated[Caller, Depends(caller_with(Role.CLERK, Role.ACCOUNTANT, Role.SERVICE))]
Payer = Annotated[Caller, Depends(caller_with(Role.ACCOUNTANT, Role.SERVICE))]
