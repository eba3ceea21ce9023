"""Adapters for the database engines: initialise, boot in a role, bootstrap, probe, promote.

One module per engine behind the ``NodeAdapter`` protocol, so the launcher and the monitors
speak of nodes and roles and never of engine-specific SQL.
"""

from __future__ import annotations

import os

from medsys.core.secrets import Secrets
from medsys.core.settings import Settings
from medsys.core.topology import Engine, Pair
from medsys.nodes.base import EngineAdapter, NodeAdapter


def adapter_class(pair: Pair, *, mysql_server: bool | None = None) -> type[EngineAdapter]:
    """MEDSYS_MYSQL_SERVER=mysql (or ``mysql_server``): the MySQL-protocol pair runs real
    MySQL 8.4 (the official image, in containers); by default a MariaDB server stands in."""
    if pair.engine is Engine.POSTGRES:
        from medsys.nodes.postgres import PostgresAdapter

        return PostgresAdapter
    if mysql_server is None:
        mysql_server = os.environ.get("MEDSYS_MYSQL_SERVER") == "mysql"
    if pair.mysql_protocol and mysql_server:
        from medsys.nodes.mysql import MySQLAdapter

        return MySQLAdapter
    from medsys.nodes.mariadb import MariaDBAdapter

    return MariaDBAdapter


def adapter_for(pair: Pair, settings: Settings, secrets: Secrets | None = None) -> NodeAdapter:
    """The pair's adapter, bound to these settings (and secrets, else read when needed)."""
    adapter: NodeAdapter = adapter_class(pair)(pair, settings, secrets)  # type: ignore[assignment]
    return adapter
