"""Alembic environment: always run programmatically with a connection handed in
(``medsys.core.migrate.upgrade``), so there is no URL or ini file to keep in sync."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=None,
    compare_type=True,
    transaction_per_migration=True,
)
with context.begin_transaction():
    context.run_migrations()
