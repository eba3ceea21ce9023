"""Make the portal database ready: migrations, then demo accounts if it is empty."""

from __future__ import annotations

from pathlib import Path

from medsys.core.migrate import upgrade
from medsys.core.secrets import load_secrets
from medsys.core.settings import Settings
from medsys.portal import demo
from medsys.portal.app import portal_database

MIGRATIONS = Path(__file__).parent / "migrations"


def prepare(settings: Settings) -> str:
    database = portal_database(settings)
    try:
        upgrade(database.engine(database.find_primary()), MIGRATIONS)
        password = load_secrets(settings).demo_password
        loaded = database.write(lambda session: demo.load(session, password=password))
        return "schema up to date; demo accounts loaded" if loaded else "schema up to date"
    finally:
        database.dispose()
