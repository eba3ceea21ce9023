"""Run a service's Alembic migrations on the current primary, from code (no alembic.ini),
as the schema's owner; then give the application's own user exactly the rights it needs.

The application's user can read and change rows, and on the audit log only read and add:
it cannot update, delete, truncate, alter or drop anything, nor touch the triggers, so the
audit log is append-only by privileges and not only by triggers it could drop.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from medsys.core.connect import mysql_account_host
from medsys.core.databases import pair_database
from medsys.core.settings import Settings
from medsys.core.topology import Engine as DatabaseEngine
from medsys.core.topology import Pair, pair_named

# Tables whose rows the application may read and add, never change.
APPEND_ONLY = frozenset({"audit_log"})
# Kept by the migrations alone.
READ_ONLY = frozenset({"alembic_version"})
NO_SUCH_GRANT = frozenset({1141, 1147})  # MariaDB/MySQL: nothing to revoke (database, table)


def table_rights(table: str) -> str:
    """What the application's user may do to ``table`` (pure; unit-tested)."""
    if table in APPEND_ONLY:
        return "SELECT, INSERT"
    if table in READ_ONLY:
        return "SELECT"
    return "SELECT, INSERT, UPDATE, DELETE"


def prepare(
    settings: Settings, pair_name: str, migrations: Path, load_demo: Callable[[Session], bool]
) -> str:
    """Migrations and rights on the primary, then demo data (as the application) if the
    database is empty; one line to say."""
    pair = pair_named(pair_name)
    owner = pair_database(settings, pair_name, owner=True)
    application = pair_database(settings, pair_name)
    try:
        engine = owner.engine(owner.find_primary())
        upgrade(engine, migrations)
        with engine.begin() as connection:
            grant_application_rights(connection, pair, mysql_account_host(settings))
        if not settings.demo_data:
            return "schema up to date; no demo data (MEDSYS_DEMO_DATA=off)"
        loaded = application.write(load_demo)
        return "schema up to date; demo data loaded" if loaded else "schema up to date"
    finally:
        owner.dispose()
        application.dispose()


def upgrade(engine: Engine, migrations: Path) -> None:
    """Every migration to the newest, each in a transaction of its own that Alembic
    opens (``run_in_environment``), so one may step outside it where the database needs
    that (an index built without locking writes: ``core.audit.index_patients_by_time``)."""
    config = Config()
    config.set_main_option("script_location", str(migrations))
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def run_in_environment() -> None:
    """The whole of each service's ``migrations/env.py``: the connection ``upgrade``
    handed in, and each migration in a transaction of its own that Alembic opens."""
    from alembic import context

    context.configure(
        connection=context.config.attributes["connection"],
        target_metadata=None,
        compare_type=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def grant_application_rights(connection: Connection, pair: Pair, host: str) -> None:
    """Idempotent; new rights first, then the broad ones of earlier versions are taken
    back, so a running application never loses what it needs midway."""
    tables = inspect(connection).get_table_names()
    if pair.engine is DatabaseEngine.POSTGRES:
        role = f'"{pair.app_user}"'
        for table in tables:
            connection.execute(text(f'REVOKE ALL ON "{table}" FROM {role}'))
            connection.execute(text(f'GRANT {table_rights(table)} ON "{table}" TO {role}'))
        connection.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}"))
        connection.execute(text(f"GRANT USAGE ON SCHEMA public TO {role}"))
        connection.execute(text("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
        return
    account = f"'{pair.app_user}'@'{host}'"
    for table in tables:
        on_table = f"ON `{pair.database}`.`{table}`"
        _revoke(connection, f"REVOKE ALL PRIVILEGES {on_table} FROM {account}")
        connection.execute(text(f"GRANT {table_rights(table)} {on_table} TO {account}"))
    # Earlier versions gave ALL on the whole database.
    _revoke(connection, f"REVOKE ALL PRIVILEGES ON `{pair.database}`.* FROM {account}")


def _revoke(connection: Connection, statement: str) -> None:
    try:
        connection.execute(text(statement))
    except DBAPIError as error:
        if getattr(error.orig, "args", (None,))[0] not in NO_SUCH_GRANT:
            raise
