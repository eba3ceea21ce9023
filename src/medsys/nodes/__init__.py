"""Adapters for the database engines: initialise, boot in a role, bootstrap, probe, promote.

One module per engine behind the ``NodeAdapter`` protocol, so the launcher and the monitors
speak of nodes and roles and never of engine-specific SQL.
"""

from __future__ import annotations

import os

from medsys.core.topology import Engine, Pair
from medsys.nodes.base import NodeAdapter


def adapter_for(pair: Pair) -> NodeAdapter:
    """MEDSYS_MYSQL_SERVER=mysql: the MySQL-protocol pair runs real MySQL 8.4 (the official
    image, in containers); by default a MariaDB server stands in for it."""
    if pair.engine is Engine.POSTGRES:
        from medsys.nodes.postgres import PostgresAdapter

        return PostgresAdapter(pair)
    if pair.mysql_protocol and os.environ.get("MEDSYS_MYSQL_SERVER") == "mysql":
        from medsys.nodes.mysql import MySQLAdapter

        return MySQLAdapter(pair)
    from medsys.nodes.mariadb import MariaDBAdapter

    return MariaDBAdapter(pair)
