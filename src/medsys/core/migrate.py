"""Run a service's Alembic migrations on the current primary, from code (no alembic.ini)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from medsys.core.db import ReplicatedDatabase


def prepare(
    database: ReplicatedDatabase, migrations: Path, load_demo: Callable[[Session], bool]
) -> str:
    """Migrations on the primary, then demo data if the database is empty; one line to say."""
    try:
        upgrade(database.engine(database.find_primary()), migrations)
        loaded = database.write(load_demo)
        return "schema up to date; demo data loaded" if loaded else "schema up to date"
    finally:
        database.dispose()


def upgrade(engine: Engine, migrations: Path) -> None:
    config = Config()
    config.set_main_option("script_location", str(migrations))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
