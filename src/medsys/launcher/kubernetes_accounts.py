"""The schema owner and application accounts of the MySQL-protocol pairs on Kubernetes.

CloudNativePG creates the admin database's owner (``bootstrap.initdb``) and application
role (``managed.roles``) from the Cluster resource itself. Neither the MariaDB Galera
resource nor the InnoDBCluster creates the two accounts medsys needs per database (an
owner that runs the migrations and may grant, an application user that gets only row
rights from them, core.migrate), so the setup Job's first step (``medsys k8s accounts``)
makes them with the cluster's root account, before ``medsys prepare`` migrates. It is
idempotent, and sets the passwords again, so a changed secret takes effect at the next
run of the Job.
"""

from __future__ import annotations

import os

import pymysql

from medsys.core.secrets import load_secrets
from medsys.core.settings import Settings
from medsys.core.topology import Engine, pair_named
from medsys.nodes.mariadb import sql_string

ROOT_PASSWORD = "MEDSYS_DATABASE_ROOT_PASSWORD_"  # noqa: S105 - + the pair: a variable's name


def account_statements(database: str, accounts: dict[str, str], owner: str) -> list[str]:
    """SQL that makes ``database`` and every account (user -> password), the owner with
    every right on the database and the right to grant them (pure; unit-tested)."""
    statements = [f"CREATE DATABASE IF NOT EXISTS `{database}` CHARACTER SET utf8mb4"]
    for user, password in accounts.items():
        statements += [
            f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY {sql_string(password)}",
            f"ALTER USER '{user}'@'%' IDENTIFIED BY {sql_string(password)}",
        ]
    statements.append(f"GRANT ALL PRIVILEGES ON `{database}`.* TO '{owner}'@'%' WITH GRANT OPTION")
    return statements


def ensure_accounts(settings: Settings, pair_name: str) -> str:
    pair = pair_named(pair_name)
    if pair.engine is Engine.POSTGRES:
        return f"{pair.name}: accounts come from the CloudNativePG Cluster resource"
    endpoint = settings.database_endpoints.get(pair.name)
    if endpoint is None:
        raise ValueError(f"MEDSYS_DATABASE_ENDPOINT_{pair.name.upper()} is not set")
    root_password = os.environ.get(ROOT_PASSWORD + pair.name.upper())
    if not root_password:
        raise ValueError(f"{ROOT_PASSWORD}{pair.name.upper()} is not set")
    secrets = load_secrets(settings)
    accounts = {
        pair.owner_user: secrets.owner_password(pair.name),
        pair.app_user: secrets.app_password(pair.name),
    }
    host, port = endpoint
    connection = pymysql.connect(
        host=host, port=port, user="root", password=root_password, connect_timeout=10
    )
    try:
        with connection.cursor() as cursor:
            for statement in account_statements(pair.database, accounts, pair.owner_user):
                cursor.execute(statement)
        connection.commit()
    finally:
        connection.close()
    return f"{pair.name}: database {pair.database}, accounts {', '.join(accounts)} ready"
