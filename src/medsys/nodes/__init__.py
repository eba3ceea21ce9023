"""Adapters for the database engines: initialise, boot in a role, bootstrap, probe, promote.

One module per engine behind the ``NodeAdapter`` protocol, so the launcher and the monitors
speak of nodes and roles and never of engine-specific SQL.
"""

from __future__ import annotations

from medsys.core.topology import Engine, Pair
from medsys.nodes.base import NodeAdapter


def adapter_for(pair: Pair) -> NodeAdapter:
    if pair.engine is Engine.POSTGRES:
        from medsys.nodes.postgres import PostgresAdapter

        return PostgresAdapter(pair)
    from medsys.nodes.mariadb import MariaDBAdapter

    return MariaDBAdapter(pair)
