#!/bin/sh
# Entry of every database container (MariaDB, PostgreSQL, MySQL images): hands the node to
# its agent, which asks the pair state for the role before the server may start (see
# src/medsys/nodes/agent.py). Refuses a name that is not a database node of medsys.
set -eu

usage="usage: node-entrypoint NODE (mariadb-master, mariadb-replica, postgres_primary, postgres_replica, mysql_primary, mysql_replica)"

if [ "$#" -ne 1 ]; then
    echo "$usage" >&2
    exit 2
fi
node="$1"
case "$node" in
    mariadb-master | mariadb-replica | postgres_primary | postgres_replica | mysql_primary | mysql_replica) ;;
    *)
        echo "node-entrypoint: '$node' is not a database node" >&2
        echo "$usage" >&2
        exit 2
        ;;
esac

# A missing secret is a clear error here, not a half-initialised volume later.
for name in MEDSYS_DB_ADMIN_PASSWORD MEDSYS_DB_REPLICATION_PASSWORD; do
    if [ -z "$(printenv "$name" || true)" ]; then
        echo "node-entrypoint: $name is not set; copy .env.example to .env and fill it in" >&2
        exit 3
    fi
done

exec python -m medsys.nodes.agent "$node"
