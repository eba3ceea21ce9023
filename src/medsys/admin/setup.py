"""Make the admin database ready: migrations, then demo data if it is empty."""

from __future__ import annotations

from pathlib import Path

from medsys.admin import demo
from medsys.admin.app import admin_database
from medsys.core.migrate import upgrade
from medsys.core.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def prepare(settings: Settings) -> str:
    database = admin_database(settings)
    try:
        upgrade(database.engine(database.find_primary()), MIGRATIONS)
        loaded = database.write(demo.load)
        return "schema up to date; demo data loaded" if loaded else "schema up to date"
    finally:
        database.dispose()
