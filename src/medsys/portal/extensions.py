"""What the portal's views share, kept apart from the factory (``app.py``) so no view imports
the module that imports it: the CSRF guard, the session's idle limit, and the handles
``create_app`` installs (the portal's database, the middleware client) with accessors."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, current_app
from flask_wtf.csrf import CSRFProtect

from medsys.core.db import Database
from medsys.portal.gateway import Middleware

IDLE_TIMEOUT = timedelta(minutes=15)
csrf = CSRFProtect()


def init_app(app: Flask, *, database: Database, middleware: Middleware) -> None:
    app.extensions["medsys_db"] = database
    app.extensions["medsys_middleware"] = middleware


def database() -> Database:
    db: Database = current_app.extensions["medsys_db"]
    return db


def middleware() -> Middleware:
    client: Middleware = current_app.extensions["medsys_middleware"]
    return client
