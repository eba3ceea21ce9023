"""Alembic environment: always run programmatically with a connection handed in
(``medsys.core.migrate.upgrade``), so there is no URL or ini file to keep in sync."""

from medsys.core.migrate import run_in_environment

run_in_environment()
