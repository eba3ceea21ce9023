"""Characters no database here can store (NUL) are refused with a 422, after the caller is
authenticated: an anonymous request gets its 401 whatever its body.

A small middleware (ASGI for FastAPI, a ``before_request`` hook for Flask) looks through the
path, the query and a JSON or form body, and when it finds one it marks the request with a
header of ours (``MARK``, never taken from the client). ``core.auth.caller_of`` refuses a
marked request once the token is good, and the portal's cookie sessions do the same.
Public routes never get as far as a database with it: a value PostgreSQL refuses is a
``DataError``, answered 422 by the error handlers, with nothing written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from medsys.core.errors import InvalidInput
from medsys.core.validation import UNSTORABLE, unstorable_at

MARK = "X-Medsys-Unstorable"
_MARK_KEY = MARK.lower().encode()
_WSGI_MARK = "HTTP_" + MARK.upper().replace("-", "_")
MAX_INSPECTED_BODY = 2 * 1024 * 1024


def unstorable_in(path: str, query: str, content_type: str, body: bytes) -> str | None:
    """Where the request holds an unstorable character, or None (pure; unit-tested)."""
    if UNSTORABLE in unquote(path):
        return "(ruta)"
    found = unstorable_at(dict(parse_qsl(query, keep_blank_values=True)))
    if found:
        return found
    if not body or len(body) > MAX_INSPECTED_BODY:
        return None
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/json" or kind.endswith("+json"):
        try:
            document: Any = json.loads(body)
        except ValueError:
            return None  # the application says it is malformed
        return unstorable_at(document)
    if kind == "application/x-www-form-urlencoded":
        return unstorable_at(dict(parse_qsl(body.decode(errors="replace"), keep_blank_values=True)))
    return None


class HeaderLookup(Protocol):
    def get(self, key: str, /) -> str | None: ...


def refuse_if_marked(headers: HeaderLookup | Mapping[str, str]) -> None:
    """For an authenticated caller: a marked request changes nothing and says where."""
    where = headers.get(MARK)
    if where:
        raise InvalidInput(
            "Datos inválidos.",
            details=[{"campo": where, "problema": "contiene un carácter no permitido (NUL)"}],
        )


class MarkUnstorable:
    """ASGI: reads the body once (replayed to the app unchanged) and marks the request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != _MARK_KEY]
        content_type = next((v.decode() for k, v in headers if k.lower() == b"content-type"), "")
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        where = unstorable_in(
            scope.get("path", ""),
            scope.get("query_string", b"").decode(errors="replace"),
            content_type,
            body,
        )
        if where:
            headers.append((_MARK_KEY, where.encode()))
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        # The same scope, changed in place: the router records the matched route in it,
        # and the request log outside reads that route for its metrics.
        scope["headers"] = headers
        await self.app(scope, replay, send)


def install_flask(app: Any) -> None:
    from flask import request

    def mark() -> None:
        environ = request.environ
        environ.pop(_WSGI_MARK, None)
        where = unstorable_in(
            request.path,
            request.query_string.decode(errors="replace"),
            request.content_type or "",
            request.get_data(cache=True),
        )
        if where:
            environ[_WSGI_MARK] = where

    app.before_request(mark)
