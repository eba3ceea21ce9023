"""A database pair as an application (or an operator tool) opens it: every node of the
pair, the app's own user (or the schema owner, or the admin user), the shared primary-aware
router."""

from __future__ import annotations

from medsys.core.db import Node, ReplicatedDatabase, mariadb_url, postgres_url
from medsys.core.secrets import load_secrets
from medsys.core.settings import Settings
from medsys.core.topology import PROBE_DATABASE, PROBE_USER, Engine, pair_named


def pair_database(
    settings: Settings,
    pair_name: str,
    *,
    admin: bool = False,
    owner: bool = False,
    probe: bool = False,
    failover_deadline: float = 10.0,
    pool_size: int = 5,
) -> ReplicatedDatabase:
    """``probe``: the journey prober's account, on its own database (core.topology)."""
    pair = pair_named(pair_name)
    secrets = load_secrets(settings)
    database = pair.database
    if probe:
        user, password, database = PROBE_USER, secrets.probe_db_password, PROBE_DATABASE
    elif admin:
        user, password = "medsys_admin", secrets.admin_password
    elif owner:
        user, password = pair.owner_user, secrets.owner_password(pair.name)
    else:
        user, password = pair.app_user, secrets.app_password(pair.name)
    make_url = postgres_url if pair.engine is Engine.POSTGRES else mariadb_url
    endpoint = settings.database_endpoints.get(pair.name)
    if endpoint is not None:
        # An operator's read-write Service: it moves to the new primary by itself, so
        # there is one place to write and a failover is a gap to wait out, then 503.
        host, port = endpoint
        url = make_url(user=user, password=password, port=port, database=database, host=host)
        return ReplicatedDatabase(
            [Node(f"{pair.name}-endpoint", url)],
            failover_deadline=failover_deadline,
            pool_size=pool_size,
        )
    nodes = [
        Node(
            node,
            make_url(
                user=user,
                password=password,
                port=settings.port(node),
                database=database,
                host=settings.host(node),
            ),
        )
        for node in pair.nodes
    ]
    return ReplicatedDatabase(
        nodes,
        failover_deadline=failover_deadline,
        pool_size=pool_size,
        replica_wait=settings.replica_wait(pair.nodes),
    )
