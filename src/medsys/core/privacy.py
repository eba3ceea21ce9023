"""Response headers that keep personal data off disks and out of other sites' frames, the
same on every service (Flask apps and FastAPI apps alike).

Every answer but the shared look's static files (stylesheet, images) is ``no-store``: pages
and JSON alike may hold a patient's data, and a browser or a proxy must not keep them.
"""

from __future__ import annotations

from flask import Flask, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC_PREFIXES = ("/look/", "/static/", "/docs/assets/")
# The API explorers run their own inline start-up script (EXPLORER_POLICY).
EXPLORER_PATHS = ("/docs", "/redoc")

ALWAYS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
# The explorers' start-up scripts are inline; everything they load must still be ours.
EXPLORER_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
    "connect-src 'self'; frame-ancestors 'none'"
)
PAGES = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'"
    ),
}


def headers_for(path: str, content_type: str) -> dict[str, str]:
    """The headers an answer at ``path`` gets (pure; unit-tested)."""
    if path.startswith(STATIC_PREFIXES):
        return {"X-Content-Type-Options": "nosniff"}
    headers = dict(ALWAYS)
    if content_type.startswith("text/html"):
        headers["X-Frame-Options"] = PAGES["X-Frame-Options"]
        headers["Content-Security-Policy"] = (
            EXPLORER_POLICY if path in EXPLORER_PATHS else PAGES["Content-Security-Policy"]
        )
    return headers


def install_flask(app: Flask) -> None:
    from flask import request

    def private(response: Response) -> Response:
        for name, value in headers_for(request.path, response.content_type or "").items():
            response.headers[name] = value
        return response

    app.after_request(private)


class PrivateResponses:
    """The same for an ASGI app (FastAPI): set on the response's first message."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", []))
                content_type = next(
                    (value.decode() for key, value in raw if key.lower() == b"content-type"), ""
                )
                wanted = headers_for(path, content_type)
                lowered = {name.lower().encode() for name in wanted}
                kept = [(key, value) for key, value in raw if key.lower() not in lowered]
                kept += [(name.lower().encode(), value.encode()) for name, value in wanted.items()]
                message["headers"] = kept
            await send(message)

        await self.app(scope, receive, with_headers)
