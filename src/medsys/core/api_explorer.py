"""``/docs`` (Swagger UI) and ``/redoc`` served with their scripts and styles from the service
itself, so the API explorers work in a clinic with no internet (FastAPI's defaults load them
from a CDN and render a blank page offline). The files come packaged in the
``fastapi-offline`` distribution; only its static folder is used here, with FastAPI's own
page builders (its self-hosting recipe), for the FastAPI services and for clinical (Flask).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html

ASSETS = Path(fastapi_offline.__file__).parent / "static"
ASSETS_PREFIX = "/docs/assets"
ASSET_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")


def swagger_page(title: str, openapi_url: str = "/openapi.json") -> bytes:
    return bytes(
        get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} - Swagger UI",
            swagger_js_url=f"{ASSETS_PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PREFIX}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PREFIX}/favicon.png",
        ).body
    )


def redoc_page(title: str, openapi_url: str = "/openapi.json") -> bytes:
    return bytes(
        get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title} - ReDoc",
            redoc_js_url=f"{ASSETS_PREFIX}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_PREFIX}/favicon.png",
            with_google_fonts=False,
        ).body
    )


def install_fastapi(app: FastAPI) -> None:
    """For an app made with ``docs_url=None, redoc_url=None``."""
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles

    app.mount(ASSETS_PREFIX, StaticFiles(directory=ASSETS), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    def docs() -> HTMLResponse:
        return HTMLResponse(swagger_page(app.title, openapi_url))

    def redoc() -> HTMLResponse:
        return HTMLResponse(redoc_page(app.title, openapi_url))

    app.add_api_route("/docs", docs, include_in_schema=False)
    app.add_api_route("/redoc", redoc, include_in_schema=False)


def install_flask(app: Any, title: str, document: Callable[[], dict[str, Any]]) -> None:
    """``/openapi.json`` from ``document``, and the same two explorers."""
    from flask import Response, abort, jsonify, send_from_directory

    def openapi() -> Any:
        return jsonify(document())

    def docs() -> Response:
        return Response(swagger_page(title), mimetype="text/html")

    def redoc() -> Response:
        return Response(redoc_page(title), mimetype="text/html")

    def asset(name: str) -> Any:
        if name not in ASSET_FILES:
            abort(404)
        return send_from_directory(ASSETS, name)

    app.add_url_rule("/openapi.json", "openapi", openapi)
    app.add_url_rule("/docs", "docs", docs)
    app.add_url_rule("/redoc", "redoc", redoc)
    app.add_url_rule(f"{ASSETS_PREFIX}/<name>", "docs_asset", asset)
