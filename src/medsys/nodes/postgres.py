"""PostgreSQL nodes: the admin pair.

Per-node settings (port, socket folder, cluster name, whom to follow) go on the server's
command line, never into postgresql.conf/.auto.conf: pg_basebackup and pg_rewind copy those
files from the other node. Synchronous replication is switched by the monitor only
(``synchronous_standby_names`` via ALTER SYSTEM), because with the standby down a
synchronous commit waits forever.
"""

from __future__ import annotations

import re
import signal
from pathlib import Path

import psycopg
from psycopg import sql

from medsys.core.secrets import write_private
from medsys.core.settings import Network
from medsys.core.topology import PROBE_COLUMNS, PROBE_DATABASE, PROBE_TABLE, PROBE_USER
from medsys.nodes import pgbackrest
from medsys.nodes.base import (
    INITIALISED_MARKER,
    EngineAdapter,
    NodeError,
    ProcessControl,
    give_to_service_user,
    mark_initialised,
    move_aside,
    one_line,
    owned_directory,
    rebuild_request,
    run_as_service_user,
    service_user,
)
from medsys.pairs.node import NodeProbe, Role

ADMIN_USER = "medsys_admin"
REPLICATION_USER = "medsys_repl"
SUPERUSER = "postgres"


SHARED_SETTINGS = {
    "shared_buffers": "32MB",
    "max_connections": "150",
    "max_wal_senders": "10",
    "max_worker_processes": "8",
    "wal_level": "replica",
    "wal_log_hints": "on",
    "wal_keep_size": "512MB",
    "hot_standby": "on",
    # A frozen primary is noticed by its standby within ~2 s (holistic detection).
    "wal_receiver_timeout": "2s",
    "wal_sender_timeout": "2s",
    "wal_retrieve_retry_interval": "1s",
    "timezone": "UTC",
    "log_timezone": "UTC",
    "log_line_prefix": "%m [%p] ",
    "logging_collector": "off",
}


def postgres_bin(program: str) -> str:
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{program}"))
    if not candidates:
        raise NodeError(f"PostgreSQL's {program} not found under /usr/lib/postgresql")
    return str(candidates[-1])


class PostgresAdapter(EngineAdapter):
    ENGINE_LABEL = "PostgreSQL"
    FLAVOUR = "postgres"
    STOP_SIGNAL = signal.SIGINT  # "fast" shutdown: SIGTERM waits for every session to end
    ATTACHES_AFTER_BOOT = False  # a standby boots following primary_conninfo

    def data_dir(self, node: str) -> Path:
        return self.settings.data_dir / node

    def _socket_dir(self, node: str) -> Path:
        return self.settings.run_dir / node

    def _passfile(self, node: str) -> Path:
        return self.settings.conf_dir / f"{node}.pgpass"

    def is_initialised(self, node: str) -> bool:
        return (self.data_dir(node) / INITIALISED_MARKER).exists()

    def _write_passfile(self, node: str) -> Path:
        self.settings.conf_dir.mkdir(parents=True, exist_ok=True)
        path = self._passfile(node)
        write_private(
            path,
            f"*:*:*:{REPLICATION_USER}:{self.secrets.replication_password}\n"
            f"*:*:*:{ADMIN_USER}:{self.secrets.admin_password}\n",
            0o600,
            owner=service_user(self.settings).uid,
        )
        return path

    def write_shared_config(self, node: str) -> None:
        """postgresql.conf holds what both nodes share, and is the same on both, so its
        being copied by pg_basebackup/pg_rewind is harmless. Hot-standby parameters must
        live here, not on the command line: pg_rewind's crash recovery runs the server in
        single-user mode with this file only, and a standby refuses to start when the WAL
        says its primary ran with larger values (max_wal_senders, max_connections, ...)."""
        lines = [f"{name} = '{value}'" for name, value in SHARED_SETTINGS.items()]
        path = self.data_dir(node) / "postgresql.conf"
        path.write_text(
            "# written by medsys at every boot; per-node settings are on the command line\n"
            + "\n".join(lines)
            + "\n"
        )
        give_to_service_user(self.settings, path)

    def _conninfo_to(self, node: str, upstream: str) -> str:
        return (
            f"host={self.settings.host(upstream)} port={self.settings.port(upstream)} "
            f"user={REPLICATION_USER} "
            f"passfile={self._passfile(node)} application_name={node} "
            "connect_timeout=2"
        )

    def initialise(self, node: str, role: Role) -> None:
        datadir = self.data_dir(node)
        owned_directory(self.settings, datadir)
        owned_directory(self.settings, self._socket_dir(node), 0o700)
        passfile = self._write_passfile(node)
        if role is Role.PRIMARY:
            run_as_service_user(
                self.settings,
                [
                    postgres_bin("initdb"),
                    "-D",
                    str(datadir),
                    "-U",
                    SUPERUSER,
                    "--auth-local=peer",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--no-locale",
                    "--data-checksums",
                ],
            )
        else:
            upstream = self.pair.other(node)
            run_as_service_user(
                self.settings,
                [
                    postgres_bin("pg_basebackup"),
                    "-h",
                    self.settings.host(upstream),
                    "-p",
                    str(self.settings.port(upstream)),
                    "-U",
                    REPLICATION_USER,
                    "-D",
                    str(datadir),
                    "--wal-method=stream",
                    "--checkpoint=fast",
                    "--no-password",
                ],
                env={"PGPASSFILE": str(passfile)},
            )
            # Marked as a standby from birth: data without standby.signal is an
            # ex-primary to the node entry, which would pg_rewind it.
            self._mark_standby(node)
        mark_initialised(self.settings, datadir, node)

    def boot_argv(
        self,
        node: str,
        role: Role,
        *,
        synchronous: bool = True,  # kept by the monitor in postgresql.auto.conf
    ) -> list[str]:
        datadir = self.data_dir(node)
        owned_directory(self.settings, self._socket_dir(node), 0o700)
        self._write_passfile(node)
        if role is Role.REPLICA and not (datadir / "standby.signal").exists():
            self._mark_standby(node)
        self.write_shared_config(node)
        per_node = {
            "port": str(self.settings.port(node)),
            "listen_addresses": self.settings.bind_address,
            "unix_socket_directories": str(self._socket_dir(node)),
            "cluster_name": node,
            "primary_conninfo": self._conninfo_to(node, self.pair.other(node)),
        }
        hba, ident = self._write_access_rules(node)
        per_node["hba_file"] = str(hba)
        per_node["ident_file"] = str(ident)
        # Only the service user can enter the socket's folder or use the socket.
        per_node["unix_socket_permissions"] = "0700"
        # Every WAL segment into the backup repository, whichever node is primary.
        pgbackrest.write_config(self.settings, self.secrets, node)
        per_node.update(pgbackrest.archive_settings(self.settings, node))
        argv = [postgres_bin("postgres"), "-D", str(datadir)]
        for name, value in per_node.items():
            argv += ["-c", f"{name}={value}"]
        return argv

    def _write_access_rules(self, node: str) -> tuple[Path, Path]:
        """pg_hba.conf and pg_ident.conf of a node, outside its data folder (base backups
        and rewinds copy that folder): on the socket, only the service user (and root) by
        peer, as the superuser; everyone else with a password over TCP; nothing trusted."""
        self.settings.conf_dir.mkdir(parents=True, exist_ok=True)
        clients = "samenet" if self.settings.network is Network.COMPOSE else "127.0.0.1/32"
        hba = self.settings.conf_dir / f"{node}.hba.conf"
        hba.write_text(
            "# written by medsys at every boot\n"
            f"local all {SUPERUSER} peer map=medsys\n"
            "local all all reject\n"
            f"host all all {clients} scram-sha-256\n"
            f"host replication {REPLICATION_USER} {clients} scram-sha-256\n"
        )
        ident = self.settings.conf_dir / f"{node}.ident.conf"
        operators = sorted({service_user(self.settings).name, "root"})
        ident.write_text("".join(f"medsys {name} {SUPERUSER}\n" for name in operators))
        for path in (hba, ident):
            path.chmod(0o644)
        return hba, ident

    def _superuser_connection(
        self, node: str, database: str = "postgres"
    ) -> psycopg.Connection[tuple]:  # type: ignore[type-arg]
        """Over the node's socket, as whoever runs us: peer authentication maps the service
        user (and root) to the superuser; no password exists for it."""
        return psycopg.connect(
            host=str(self._socket_dir(node)),
            port=self.settings.port(node),
            user=SUPERUSER,
            dbname=database,
            autocommit=True,
            connect_timeout=5,
        )

    def bootstrap_primary(self, node: str) -> None:
        """Roles and the application database; run at every ``up``, so an installation made
        before the owner role existed hands its schema over to it."""
        pair = self.pair
        unprivileged = "LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB"
        roles = {
            ADMIN_USER: ("LOGIN SUPERUSER", self.secrets.admin_password),
            REPLICATION_USER: ("LOGIN REPLICATION", self.secrets.replication_password),
            pair.owner_user: (unprivileged, self.secrets.owner_password(pair.name)),
            pair.app_user: (unprivileged, self.secrets.app_password(pair.name)),
            PROBE_USER: (unprivileged, self.secrets.probe_db_password),
        }
        with self._superuser_connection(node) as connection:
            for role, (options, password) in roles.items():
                exists = connection.execute(
                    "SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)
                ).fetchone()
                verb = "ALTER" if exists else "CREATE"
                connection.execute(
                    sql.SQL("{} ROLE {} " + options + " PASSWORD {}").format(
                        sql.SQL(verb), sql.Identifier(role), sql.Literal(password)
                    )
                )
            owner = connection.execute(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s",
                (pair.database,),
            ).fetchone()
            if owner is None:
                connection.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(pair.database), sql.Identifier(pair.owner_user)
                    )
                )
            elif owner[0] != pair.owner_user:
                connection.execute(
                    sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                        sql.Identifier(pair.database), sql.Identifier(pair.owner_user)
                    )
                )
            if not connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (PROBE_DATABASE,)
            ).fetchone():
                connection.execute(
                    sql.SQL("CREATE DATABASE {}").format(sql.Identifier(PROBE_DATABASE))
                )
        with self._superuser_connection(node, PROBE_DATABASE) as connection:
            connection.execute(
                sql.SQL("CREATE TABLE IF NOT EXISTS {} (" + PROBE_COLUMNS + ")").format(
                    sql.Identifier(PROBE_TABLE)
                )
            )
            connection.execute(
                sql.SQL("GRANT SELECT, INSERT, UPDATE ON {} TO {}").format(
                    sql.Identifier(PROBE_TABLE), sql.Identifier(PROBE_USER)
                )
            )
        # The backup repository must know the cluster before the primary's WAL can be
        # archived (locally and in containers alike: this runs wherever a primary boots).
        pgbackrest.ensure_stanza(self.settings, node)
        with self._superuser_connection(node, pair.database) as connection:
            # Tables made by an earlier version belong to the application's role.
            connection.execute(
                sql.SQL("REASSIGN OWNED BY {} TO {}").format(
                    sql.Identifier(pair.app_user), sql.Identifier(pair.owner_user)
                )
            )

    def attach_replica(self, replica: str, primary: str) -> None:
        """A base backup booted with standby.signal already follows; nothing more to do."""
        if not self.is_initialised(replica):
            raise NodeError(f"{replica} has no data yet; initialise it from {primary} first")

    def connect_admin(self, node: str) -> psycopg.Connection[tuple]:  # type: ignore[type-arg]
        return psycopg.connect(
            host=self.settings.host(node),
            port=self.settings.port(node),
            user=ADMIN_USER,
            password=self.secrets.admin_password,
            dbname="postgres",
            autocommit=True,
            connect_timeout=2,
            options="-c statement_timeout=2000",
        )

    def probe(self, node: str) -> NodeProbe:
        try:
            with self.connect_admin(node) as connection:
                return self._probe_with(connection, node)
        except psycopg.Error as error:
            return NodeProbe(node=node, reachable=False, error=one_line(error))

    def _probe_with(self, connection: psycopg.Connection[tuple], node: str) -> NodeProbe:  # type: ignore[type-arg]
        row = connection.execute("SELECT pg_is_in_recovery()").fetchone()
        in_recovery = bool(row and row[0])
        if in_recovery:
            receiver = connection.execute(
                "SELECT status, sender_port FROM pg_stat_wal_receiver"
            ).fetchone()
            position = connection.execute(
                "SELECT pg_last_wal_replay_lsn()::text, "
                "pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), "
                "pg_last_wal_receive_lsn()::text"
            ).fetchone()
            held = [lsn for lsn in (position or ())[:3:2] if lsn]
            return NodeProbe(
                node=node,
                reachable=True,
                writable=False,
                upstream_port=int(receiver[1]) if receiver and receiver[1] else None,
                receiving=receiver is not None and receiver[0] == "streaming",
                follows_someone=True,  # a standby always has primary_conninfo
                position=position[0] if position else None,
                received=",".join(held) or None,
                lag=f"{int(position[1] or 0)} B" if position else None,
                lag_bytes=int(position[1] or 0) if position else None,
            )
        replicas = connection.execute(
            "SELECT state, sync_state, "
            "pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), flush_lsn::text "
            "FROM pg_stat_replication"
        ).fetchall()
        position = connection.execute("SELECT pg_current_wal_lsn()::text").fetchone()
        standby_names = connection.execute("SHOW synchronous_standby_names").fetchone()
        streaming = [r for r in replicas if r[0] == "streaming"]
        # With synchronous_commit on, a commit is acknowledged once the synchronous
        # standby reports it flushed: its flush_lsn is the primary's acknowledged position.
        flushed = [r[3] for r in streaming if r[1] in ("sync", "quorum") and r[3]]
        return NodeProbe(
            node=node,
            reachable=True,
            writable=True,
            replica_streaming=bool(streaming),
            sync_configured=bool(standby_names and standby_names[0]),
            sync_active=any(r[1] in ("sync", "quorum") for r in streaming),
            position=position[0] if position else None,
            acknowledged=flushed[0] if flushed else None,
            lag=f"{int(streaming[0][2] or 0)} B" if streaming else None,
            lag_bytes=int(streaming[0][2] or 0) if streaming else None,
        )

    def set_synchronous(self, node: str, on: bool) -> None:
        """Commits wait for the standby (on) or not (off): the monitor's lever."""
        value = "*" if on else ""
        with self.connect_admin(node) as connection:
            current = connection.execute("SHOW synchronous_standby_names").fetchone()
            if current and current[0] == value:
                return
            connection.execute(
                sql.SQL("ALTER SYSTEM SET synchronous_standby_names = {}").format(
                    sql.Literal(value)
                )
            )
            connection.execute("SELECT pg_reload_conf()")

    def ping(self, node: str) -> bool:
        try:
            with self._superuser_connection(node) as connection:
                connection.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    # --- failover ------------------------------------------------------------------------
    def promote(self, node: str) -> str:
        with self.connect_admin(node) as connection:
            connection.execute("SET statement_timeout = 0")
            in_recovery = connection.execute("SELECT pg_is_in_recovery()").fetchone()
            if not (in_recovery and in_recovery[0]):
                return f"{node} already accepts writes"
            done = connection.execute("SELECT pg_promote(true, 10)").fetchone()
            if not (done and done[0]):
                raise NodeError(f"pg_promote on {node} did not finish within 10 s")
            # The control file names the new timeline only after a checkpoint, and
            # pg_rewind of the old primary reads it from there.
            connection.execute("CHECKPOINT")
            replayed = connection.execute("SELECT pg_current_wal_lsn()::text").fetchone()
        position = replayed[0] if replayed else "?"
        return f"{node} promoted (pg_promote): all received WAL replayed, now at {position}"

    def last_ran_as_primary(self, node: str) -> bool:
        """Data that last ran as a primary (no standby.signal) must be rewound first."""
        datadir = self.data_dir(node)
        return self.is_initialised(node) and not (datadir / "standby.signal").exists()

    def rewind_or_rebuild(self, node: str, primary: str) -> str:
        """With the node stopped: pg_rewind it onto ``primary``'s timeline; if that cannot
        work, rebuild it from a base backup, keeping the diverged data aside."""
        datadir = self.data_dir(node)
        passfile = self._write_passfile(node)
        self.write_shared_config(node)
        source = (
            f"host={self.settings.host(primary)} port={self.settings.port(primary)} "
            f"user={ADMIN_USER} dbname=postgres "
            f"passfile={passfile} connect_timeout=2"
        )
        try:
            with self.connect_admin(primary) as connection:
                connection.execute("CHECKPOINT")  # its timeline, as pg_rewind will read it
        except psycopg.Error as error:
            raise NodeError(f"{primary} is unreachable: {one_line(error)}") from None
        try:
            result = run_as_service_user(
                self.settings,
                [
                    postgres_bin("pg_rewind"),
                    f"--target-pgdata={datadir}",
                    f"--source-server={source}",
                ],
                timeout=300,
            )
            said = one_line(result.stderr or result.stdout)[-200:]
            outcome = f"{node} rewound onto {primary}: {said}"
        except NodeError as error:
            outcome = self._rebuild(node, primary, reason=str(error))
        self._mark_standby(node)
        return outcome

    # What a restore leaves in postgresql.auto.conf that must not follow the data into a
    # node: a later standby would stop at the old recovery target, a primary would wait for
    # a standby named before the restore, and archiving is the node's to set.
    _RESTORE_LEFTOVERS = re.compile(
        r"^\s*(restore_command|recovery_target\w*|archive_mode|synchronous_standby_names)\s*="
    )

    def adopt_restored(self, node: str, *, history_after: int = 0) -> str:
        """Make a restored (and promoted) copy, just moved into ``node``'s data folder,
        that node's own. Its new timeline already sets its history apart: PostgreSQL chose
        one the archive had not seen when the copy promoted."""
        datadir = self.data_dir(node)
        settings = datadir / "postgresql.auto.conf"
        if settings.exists():
            kept = [
                line
                for line in settings.read_text().splitlines()
                if not self._RESTORE_LEFTOVERS.match(line)
            ]
            settings.write_text("\n".join(kept) + "\n")
        for signal_file in ("recovery.signal", "standby.signal"):
            (datadir / signal_file).unlink(missing_ok=True)
        # The copy promoted with archiving off, so its new timeline's history file never
        # reached the archive: a later restore needs it to follow this timeline. Marked
        # ready, the node's archiver sends it (re-sending one already there is harmless).
        status = datadir / "pg_wal" / "archive_status"
        for history in (datadir / "pg_wal").glob("*.history"):
            ready = status / f"{history.name}.ready"
            if not (status / f"{history.name}.done").exists():
                ready.touch()
                give_to_service_user(self.settings, ready)
        mark_initialised(self.settings, datadir, node)
        return f"{node} holds the restored copy"

    def _mark_standby(self, node: str) -> None:
        marker = self.data_dir(node) / "standby.signal"
        marker.touch()
        give_to_service_user(self.settings, marker)

    def _rebuild(self, node: str, primary: str, reason: str) -> str:
        datadir = self.data_dir(node)
        kept = move_aside(datadir)
        try:
            self.initialise(node, Role.REPLICA)
        except NodeError:
            if datadir.exists():
                datadir.rename(datadir.with_name(f"{kept.name}.failed-rebuild"))
            kept.rename(datadir)  # never leave the node with no data at all
            raise
        return f"{node} could not be rewound ({reason}); rebuilt from {primary}, old data in {kept}"

    def rebuild(self, node: str, primary: str, control: ProcessControl, *, reason: str) -> str:
        """Its entry, which runs as root where the node's files are root's, sets the data
        aside and takes a base backup of ``primary`` before the server boots."""
        control.stop(node)
        rebuild_request(self.settings, node).write_text(f"{primary}\n")
        control.start(node)
        return f"{node} made anew from {primary} ({reason}), old data kept aside"

    def rejoin(
        self,
        node: str,
        primary: str,
        control: ProcessControl,
    ) -> str:
        control.stop(node)
        outcome = self.rewind_or_rebuild(node, primary)
        control.start(node)
        return outcome
