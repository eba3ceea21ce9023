"""One mapping from the error tree (``medsys.core.errors``) to HTTP for the FastAPI
services, so admin and the middleware answer errors the same way, in Spanish."""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from medsys.core.db import DatabaseRoutingError
from medsys.core.errors import MedsysError
from medsys.core.validation import problems

log = logging.getLogger("medsys.api")
HTTP_MESSAGES = {404: "No encontrado.", 405: "Método no permitido."}


PageRenderer = Callable[[Request, int, str], Response]


def register_error_handlers(
    app: FastAPI,
    *,
    database_name: str = "La base de datos",
    pages: tuple[str, PageRenderer] | None = None,
) -> None:
    """``pages``: a path prefix whose errors are web pages for people (drawn by the given
    renderer, in Spanish) instead of JSON."""

    def page(request: Request, status: int, message: str) -> Response | None:
        if pages is not None and request.url.path.startswith(pages[0]):
            return pages[1](request, status, message)
        return None

    @app.exception_handler(MedsysError)
    async def known(request: Request, error: MedsysError) -> Response:
        return page(request, error.status, error.message) or JSONResponse(
            error.body(), status_code=error.status
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        body = {
            "error": "invalid_input",
            "message": "Datos inválidos.",
            "details": problems(error.errors()),
        }
        return JSONResponse(body, status_code=422)

    @app.exception_handler(DataError)
    async def unstorable(request: Request, error: DataError) -> Response:
        # A value the database refuses to store (a NUL, an out-of-range number): the
        # transaction was rolled back, nothing is written.
        log.info("value refused by the database: %s", str(error.orig)[:200])
        message = "Datos inválidos: un valor no se puede guardar."
        return page(request, 422, message) or JSONResponse(
            {"error": "invalid_input", "message": message}, status_code=422
        )

    @app.exception_handler(DatabaseRoutingError)
    async def no_database(request: Request, error: DatabaseRoutingError) -> Response:
        log.warning("database unavailable: %s", error)
        message = f"{database_name} no está disponible; reintente."
        return page(request, 503, message) or JSONResponse(
            {"error": "unavailable", "message": message}, status_code=503
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        message = "Ocurrió un error inesperado; ya quedó registrado."
        return page(request, 500, message) or JSONResponse(
            {"error": "internal", "message": message}, status_code=500
        )

    @app.exception_handler(StarletteHTTPException)
    async def http(request: Request, error: StarletteHTTPException) -> Response:
        message = HTTP_MESSAGES.get(error.status_code, str(error.detail))
        return page(request, error.status_code, message) or JSONResponse(
            {"error": "http_error", "message": message}, status_code=error.status_code
        )
