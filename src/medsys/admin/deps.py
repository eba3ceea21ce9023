"""FastAPI dependencies: the database, the caller with the right role, the request id.

All ``async def`` although none awaits: FastAPI runs a plain ``def`` dependency in a
worker thread, one hand-off per dependency per request, and none of these does I/O.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, Request

from medsys.core.auth import Caller, authenticate
from medsys.core.db import ReplicatedDatabase
from medsys.core.tokens import Role


async def get_database(request: Request) -> ReplicatedDatabase:
    database: ReplicatedDatabase = request.app.state.database
    return database


async def get_request_id(
    request: Request, x_request_id: Annotated[str | None, Header()] = None
) -> str:
    """The id the request log answers with (core.request_log), so logs and audit agree."""
    given: str | None = getattr(request.state, "request_id", None)
    return (given or x_request_id or uuid.uuid4().hex)[:64]


def caller_with(*roles: Role) -> Callable[[Request], Awaitable[Caller]]:
    async def dependency(request: Request) -> Caller:
        return authenticate(request.headers, request.app.state.token_key, roles)

    return dependency


async def idempotency_key(idempotency_key: Annotated[str | None, Header()] = None) -> str:
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
