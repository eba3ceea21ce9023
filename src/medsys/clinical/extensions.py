"""What clinical's views share, kept apart from the factory (``app.py``) so no view imports
the module that imports it: the CSRF guard, and the handles ``create_app`` installs on each
app (its database, its staff directory, the patient registry) with their accessors."""

from __future__ import annotations

from flask import Flask, current_app
from flask_wtf.csrf import CSRFProtect

from medsys.clinical.registry import PatientRegistry
from medsys.core.db import Database
from medsys.core.staff import StaffDirectory

csrf = CSRFProtect()


def init_app(
    app: Flask, *, database: Database, staff: StaffDirectory, registry: PatientRegistry
) -> None:
    app.extensions["medsys_db"] = database
    app.extensions["medsys_staff"] = staff
    app.extensions["medsys_registry"] = registry


def database() -> Database:
    db: Database = current_app.extensions["medsys_db"]
    return db


def staff_directory() -> StaffDirectory:
    directory: StaffDirectory = current_app.extensions["medsys_staff"]
    return directory


def registry() -> PatientRegistry:
    found: PatientRegistry = current_app.extensions["medsys_registry"]
    return found
