"""MySQL 8.4 nodes: the portal pair in containers, where the official MySQL image runs.

Locally a MariaDB server stands in for MySQL (Debian ships no MySQL server) and the
MariaDB adapter runs the pair. Same design, MySQL's dialect: GTID auto-positioning, the
semisync_source/semisync_replica plugins (AFTER_SYNC), ``super_read_only`` on every node
that is not the recorded primary.

MySQL differs from MariaDB where it matters most here: a rejoining ex-primary with
transactions the new primary never got (errant GTIDs) is *not* refused by the source, it
silently diverges. So ``rejoin`` compares GTID sets before replication starts, and
rebuilds the node when it has anything the primary lacks.

Not run against a real MySQL server on the machines this was written on (none can be
installed there); its SQL is unit-tested as text, and the README says so.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from medsys.core.secrets import Secrets, write_private
from medsys.core.settings import Settings
from medsys.nodes.base import NodeError, ProcessControl, service_user
from medsys.nodes.mariadb import (
    REPLICATION_USER,
    SEMI_SYNC_TIMEOUT_MS,
    MariaDBAdapter,
    binlog_retention_seconds,
    sql_string,
)

MYSQLD = "/usr/sbin/mysqld"


def server_options(settings: Settings, node: str, *, server_id: int, run_dir: Path) -> list[str]:
    """The [mysqld] section: durable commits, GTIDs, semi-sync loaded and tuned."""
    return [
        f"port={settings.port(node)}",
        f"bind-address={settings.bind_address}",
        f"socket={run_dir / 'mysqld.sock'}",
        f"pid-file={run_dir / 'mysqld.pid'}",
        f"tmpdir={run_dir / 'tmp'}",
        f"server-id={server_id}",
        f"log-bin={node}-bin",
        f"relay-log={node}-relay",
        "log-replica-updates=ON",
        "gtid-mode=ON",
        "enforce-gtid-consistency=ON",
        "sync-binlog=1",
        f"binlog-expire-logs-seconds={binlog_retention_seconds()}",
        "max-binlog-size=64M",
        "innodb-flush-log-at-trx-commit=1",
        # Deprecated since 8.0.34 and still needed for the audit triggers; `loose-` keeps
        # a later release that drops it from refusing to start.
        "loose-log-bin-trust-function-creators=ON",
        "skip-name-resolve",
        "mysqlx=OFF",
        "performance-schema=OFF",
        "innodb-buffer-pool-size=32M",
        "max-connections=200",
        "character-set-server=utf8mb4",
        "collation-server=utf8mb4_unicode_ci",
        "default-time-zone=+00:00",
        "plugin-load-add=semisync_source.so",
        "plugin-load-add=semisync_replica.so",
        "rpl-semi-sync-source-wait-point=AFTER_SYNC",
        f"rpl-semi-sync-source-timeout={SEMI_SYNC_TIMEOUT_MS}",
        "rpl-semi-sync-source-wait-no-replica=ON",
        "rpl-semi-sync-replica-enabled=ON",
        "replica-net-timeout=2",
    ]


def change_source(settings: Settings, secrets: Secrets, primary: str) -> str:
    return (
        f"CHANGE REPLICATION SOURCE TO SOURCE_HOST={sql_string(settings.host(primary))}, "
        f"SOURCE_PORT={settings.port(primary)}, SOURCE_USER='{REPLICATION_USER}', "
        f"SOURCE_PASSWORD={sql_string(secrets.replication_password)}, "
        "SOURCE_AUTO_POSITION=1, SOURCE_SSL=1, GET_SOURCE_PUBLIC_KEY=1, "
        "SOURCE_CONNECT_RETRY=1, SOURCE_HEARTBEAT_PERIOD=0.5"
    )


def promotion_statements() -> list[str]:
    return [
        "STOP REPLICA",
        "RESET REPLICA ALL",
        "SET GLOBAL rpl_semi_sync_source_enabled = OFF",  # alone, as the state records
        "SET GLOBAL super_read_only = OFF",
        "SET GLOBAL read_only = OFF",
    ]


def follow_statements(settings: Settings, secrets: Secrets, primary: str) -> list[str]:
    return [
        "SET GLOBAL super_read_only = ON",  # also sets read_only
        "STOP REPLICA",
        "SET GLOBAL rpl_semi_sync_source_enabled = OFF",
        change_source(settings, secrets, primary),
        "START REPLICA",
    ]


class MySQLAdapter(MariaDBAdapter):
    ENGINE_LABEL = "MySQL"
    FLAVOUR = "mysql"
    SHOW_REPLICA_STATUS = "SHOW REPLICA STATUS"
    IO_RUNNING = "Replica_IO_Running"
    SQL_RUNNING = "Replica_SQL_Running"
    SOURCE_PORT = "Source_Port"
    SECONDS_BEHIND = "Seconds_Behind_Source"
    RECEIVED_POSITION = "Retrieved_Gtid_Set"
    POSITION_VARIABLE = "gtid_executed"
    SEMI_SYNC_SOURCE = "rpl_semi_sync_source"
    PRIMARY_POSITION = "SELECT @@global.gtid_executed AS p"
    WAIT_FOR_POSITION = "SELECT WAIT_FOR_EXECUTED_GTID_SET({position}, 1) AS w"  # 0: applied
    SERVER = MYSQLD
    DUMP = "mysqldump"
    DUMP_OPTIONS = (
        "--all-databases",
        "--single-transaction",
        "--routines",
        "--events",
        "--triggers",
        "--flush-privileges",
        "--source-data=2",
        "--set-gtid-purged=ON",
    )
    REPLICA_BOOT_FLAGS = ("--super-read-only=ON",)

    # --- files -------------------------------------------------------------------------
    def _socket(self, node: str) -> Path:
        return self._run_dir(node) / "mysqld.sock"

    def _write_defaults(self, node: str) -> Path:
        """Holds root's password in [client]: owner-only, like the secrets themselves."""
        lines = [
            "[mysqld]",
            f"datadir={self.data_dir(node)}",
            *server_options(
                self.settings,
                node,
                server_id=self.server_id(node),
                run_dir=self._run_dir(node),
            ),
            "[client]",
            "user=root",
            f"password={self.secrets.admin_password}",
            f"socket={self._socket(node)}",
            "",
        ]
        self.settings.conf_dir.mkdir(parents=True, exist_ok=True)
        path = self._defaults_file(node)
        write_private(path, "\n".join(lines), 0o600, owner=service_user(self.settings).uid)
        return path

    def _install(self, defaults: Path, user: str) -> None:
        # root gets the admin password at birth: MySQL has no socket-only root by default.
        init_file = defaults.with_suffix(".init.sql")
        write_private(
            init_file,
            "ALTER USER 'root'@'localhost' IDENTIFIED BY "
            f"{sql_string(self.secrets.admin_password)};\n",
            0o600,
        )
        try:
            result = subprocess.run(
                [
                    MYSQLD,
                    f"--defaults-file={defaults}",
                    "--initialize-insecure",
                    f"--user={user}",
                    f"--init-file={init_file}",
                ],
                capture_output=True,
                text=True,
                check=False,
                timeout=300,
            )
        finally:
            init_file.unlink(missing_ok=True)
        if result.returncode != 0:
            raise NodeError(f"mysqld --initialize failed: {result.stderr.strip()[-800:]}")

    def _client(self, node: str) -> list[str]:
        # root and its password are in the defaults file's [client] section.
        return ["mysql", f"--defaults-file={self._defaults_file(node)}"]

    # --- replication ---------------------------------------------------------------------
    def _attach_fresh(self, node: str, primary: str) -> None:
        # A fresh node loads a copy that sets its GTID_PURGED, then auto-positions from it.
        self._root_sql(
            node,
            "STOP REPLICA; SET GLOBAL super_read_only = OFF; RESET BINARY LOGS AND GTIDS;",
        )
        self._copy_from(node, primary)
        self._root_sql(
            node,
            "SET GLOBAL super_read_only = ON; "
            f"{change_source(self.settings, self.secrets, primary)}; START REPLICA;",
        )

    def _copy_position(self, copy: Path) -> str:
        return ""  # the copy sets @@GLOBAL.GTID_PURGED itself (--set-gtid-purged=ON)

    def promote(self, node: str) -> str:
        status = self._admin(node, "SHOW REPLICA STATUS")
        applied = "nothing to apply"
        if status:
            received = " ".join(str(status[0]["Retrieved_Gtid_Set"]).split())
            waited = self._admin(
                node,
                f"SELECT WAIT_FOR_EXECUTED_GTID_SET({sql_string(received)}, 10) AS w",
            )
            if waited and int(waited[0]["w"]) != 0:
                raise NodeError(f"{node} did not apply its relay log up to {received} in 10 s")
            applied = f"applied everything received ({received or 'empty'})"
        self._admin(node, *promotion_statements())
        return f"{node} promoted: {applied}, replication reset, super_read_only off"

    def errant_transactions(self, node: str, primary: str) -> str:
        """GTIDs ``node`` executed that ``primary`` never did ('' when none)."""
        theirs = self._admin(primary, "SELECT @@global.gtid_executed AS g")
        primary_set = str(theirs[0]["g"]) if theirs else ""
        mine = self._admin(
            node,
            f"SELECT GTID_SUBTRACT(@@global.gtid_executed, {sql_string(primary_set)}) AS errant",
        )
        return " ".join(str(mine[0]["errant"] if mine else "").split())

    def adopt_restored(self, node: str, *, history_after: int = 0) -> str:
        raise NodeError("restores are made with mariadb-backup: local MariaDB nodes only")

    def _follow(self, node: str, primary: str) -> None:
        self._admin(node, *follow_statements(self.settings, self.secrets, primary))

    def rejoin(
        self,
        node: str,
        primary: str,
        control: ProcessControl,
    ) -> str:
        if not self._has_our_users(node):
            self._attach_fresh(node, primary)
            return f"{node} loaded a copy of {primary} and replicates from it"
        errant = self.errant_transactions(node, primary)
        if not errant:
            self._follow(node, primary)
            error = self._replication_error(node, primary)
            if error is None:
                return f"{node} replicates from {primary}"
            reason = error
        else:
            reason = f"errant transactions {errant}"
        return self.rebuild(node, primary, control, reason=f"it had diverged: {reason}")
