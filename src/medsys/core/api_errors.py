"""One mapping from the error tree (``medsys.core.errors``) to HTTP for the FastAPI
services, so admin and the middleware answer errors the same way, in Spanish."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from medsys.core.db import DatabaseRoutingError
from medsys.core.errors import MedsysError
from medsys.core.validation import problems

log = logging.getLogger("medsys.api")
HTTP_MESSAGES = {404: "No encontrado.", 405: "Método no permitido."}


def register_error_handlers(app: FastAPI, *, database_name: str = "La base de datos") -> None:
    @app.exception_handler(MedsysError)
    async def known(request: Request, error: MedsysError) -> JSONResponse:
        return JSONResponse(error.body(), status_code=error.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        body = {
            "error": "invalid_input",
            "message": "Datos inválidos.",
            "details": problems(error.errors()),
        }
        return JSONResponse(body, status_code=422)

    @app.exception_handler(DatabaseRoutingError)
    async def no_database(request: Request, error: DatabaseRoutingError) -> JSONResponse:
        log.warning("database unavailable: %s", error)
        body = {
            "error": "unavailable",
            "message": f"{database_name} no está disponible; reintente.",
        }
        return JSONResponse(body, status_code=503)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        body = {"error": "internal", "message": "Ocurrió un error inesperado; ya quedó registrado."}
        return JSONResponse(body, status_code=500)

    @app.exception_handler(StarletteHTTPException)
    async def http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        message = HTTP_MESSAGES.get(error.status_code, str(error.detail))
        return JSONResponse(
            {"error": "http_error", "message": message}, status_code=error.status_code
        )
