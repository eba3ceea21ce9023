"""MariaDB nodes: the clinical pair and the MySQL-protocol portal pair.

Replication is GTID-based and semi-synchronous (AFTER_SYNC) and never falls back to
asynchronous by itself (only the monitor relaxes it, see ``medsys.failover.decision``), so
a commit acknowledged is already on the replica. Semi-sync is enabled on the primary only:
on a replica it stalls the SQL thread (see NOTES-local-databases.md). Binary logs are
deleted once archived and older than the retention (``binlog_retention_seconds``); a node
too far behind is rebuilt from a fresh copy.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pymysql
import pymysql.cursors

from medsys.core.connect import mysql_account_host, mysql_transport_options
from medsys.core.settings import Network
from medsys.core.topology import PROBE_COLUMNS, PROBE_DATABASE, PROBE_TABLE, PROBE_USER
from medsys.nodes.base import (
    DIVERGED,
    INITIALISED_MARKER,
    EngineAdapter,
    NodeError,
    ProcessControl,
    mark_initialised,
    move_aside,
    one_line,
    owned_directory,
    rebuild_request,
    service_user,
)
from medsys.pairs.node import NodeProbe, Role

ADMIN_USER = "medsys_admin"
REPLICATION_USER = "medsys_repl"
# Semi-sync never gives up by itself (the largest timeout both MariaDB and MySQL take, and
# wait-no-slave on): a commit waits for the replica until the monitor, having recorded
# that the replica is out of sync, switches semi-sync off. A timeout of its own let the
# primary acknowledge commits alone while the pair state still said "in sync", and a
# promotion then lost them.
SEMI_SYNC_TIMEOUT_MS = 4_294_967_295


_COPY_POSITION = re.compile(rb"^-- SET GLOBAL gtid_slave_pos='([0-9,-]*)';", re.MULTILINE)


def copy_position(copy: Path) -> str:
    """The GTID position a ``mariadb-dump --master-data=2 --gtid`` copy stands at (its
    last lines name it, commented out)."""
    with copy.open("rb") as handle:
        handle.seek(max(0, copy.stat().st_size - 4096))
        found: list[bytes] = _COPY_POSITION.findall(handle.read())
    if not found:
        raise NodeError(f"{copy.name} names no GTID position; not a complete copy")
    return found[-1].decode()


def binlog_retention_seconds() -> int:
    """How long binary logs stay on a node (MEDSYS_BINLOG_RETENTION_HOURS, default 72):
    a replica away longer is rebuilt from a copy, so the history need not stay forever."""
    hours = float(os.environ.get("MEDSYS_BINLOG_RETENTION_HOURS") or "72")
    if hours <= 0:
        raise NodeError("MEDSYS_BINLOG_RETENTION_HOURS must be above 0")
    return int(hours * 3600)


def sql_string(value: str) -> str:
    """``value`` as a MariaDB/MySQL string literal (for statements that take no
    parameters: CREATE USER, CHANGE MASTER)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class MariaDBAdapter(EngineAdapter):
    ENGINE_LABEL = "MariaDB"
    FLAVOUR = "mariadb"
    STOP_SIGNAL = signal.SIGTERM
    ATTACHES_AFTER_BOOT = True  # CHANGE MASTER and START SLAVE once the server answers
    # The replication status as this server names it (MySQL 8.4 overrides these).
    SHOW_REPLICA_STATUS = "SHOW SLAVE STATUS"
    IO_RUNNING = "Slave_IO_Running"
    SQL_RUNNING = "Slave_SQL_Running"
    SOURCE_PORT = "Master_Port"
    SECONDS_BEHIND = "Seconds_Behind_Master"
    RECEIVED_POSITION = "Gtid_IO_Pos"  # what the IO thread wrote to the relay log
    POSITION_VARIABLE = "gtid_current_pos"
    SEMI_SYNC_SOURCE = "rpl_semi_sync_master"  # _enabled (variable), _status (status)
    PRIMARY_POSITION = "SELECT @@global.gtid_binlog_pos AS p"
    WAIT_FOR_POSITION = "SELECT MASTER_GTID_WAIT({position}, 1) AS w"  # 0: applied
    SERVER = "/usr/sbin/mariadbd"
    DUMP = "mariadb-dump"
    # The system schema too (our users and grants), then privileges reloaded.
    DUMP_OPTIONS: tuple[str, ...] = (
        "--all-databases",
        "--single-transaction",
        "--routines",
        "--events",
        "--triggers",
        "--flush-privileges",
        "--master-data=2",
        "--gtid",
    )
    # A node that is not the recorded primary boots unable to take application writes,
    # and an interrupted commit of an ex-primary is rolled back, not replicated.
    REPLICA_BOOT_FLAGS: tuple[str, ...] = ("--read-only=ON", "--init-rpl-role=SLAVE")

    # --- files -------------------------------------------------------------------------
    def data_dir(self, node: str) -> Path:
        return self.settings.data_dir / node

    def _run_dir(self, node: str) -> Path:
        return self.settings.run_dir / node

    def _socket(self, node: str) -> Path:
        return self._run_dir(node) / "mariadb.sock"

    def _defaults_file(self, node: str) -> Path:
        return self.settings.conf_dir / f"{node}.cnf"

    def is_initialised(self, node: str) -> bool:
        return (self.data_dir(node) / INITIALISED_MARKER).exists()

    def server_id(self, node: str) -> int:
        """The node's replication server id: its place in the pair, from 1."""
        return self.pair.nodes.index(node) + 1

    def _write_defaults(self, node: str) -> Path:
        server_id = self.server_id(node)
        datadir = self.data_dir(node)
        socket = self._socket(node)
        lines = [
            "[mariadbd]",
            f"datadir={datadir}",
            f"port={self.settings.port(node)}",
            f"bind-address={self.settings.bind_address}",
            f"socket={socket}",
            f"pid-file={self._run_dir(node) / 'mariadb.pid'}",
            f"tmpdir={self._run_dir(node) / 'tmp'}",  # never shared between nodes
            f"server-id={server_id}",
            f"log-bin={node}-bin",
            f"relay-log={node}-relay",
            "log-slave-updates=ON",
            "binlog-format=ROW",
            "sync-binlog=1",
            f"binlog-expire-logs-seconds={self._binlog_expiry()}",
            "max-binlog-size=64M",  # expiry and purges remove whole files
            "innodb-flush-log-at-trx-commit=1",
            "gtid-strict-mode=ON",
            "log-bin-trust-function-creators=ON",
            "skip-name-resolve",
            "performance-schema=OFF",
            "innodb-buffer-pool-size=32M",
            "innodb-log-file-size=32M",
            # Dirty pages flushed in the background from the first one, so the checkpoint
            # follows the writes: by default nothing is flushed below the thresholds, and a
            # node killed again and again recovered each time from the checkpoint of its
            # last clean stop (where MariaDB 10.11.19 failed an assertion; see README).
            "innodb-max-dirty-pages-pct-lwm=0.001",
            "key-buffer-size=4M",
            "max-connections=200",
            "character-set-server=utf8mb4",
            "collation-server=utf8mb4_unicode_ci",
            "default-time-zone=+00:00",
            "rpl-semi-sync-master-wait-point=AFTER_SYNC",
            f"rpl-semi-sync-master-timeout={SEMI_SYNC_TIMEOUT_MS}",
            "rpl-semi-sync-master-wait-no-slave=ON",
            "rpl-semi-sync-slave-enabled=ON",
            "slave-net-timeout=2",  # a frozen primary is noticed by its replica within ~2 s
            "[client]",
            f"socket={socket}",
            f"port={self.settings.port(node)}",
            "",
        ]
        self.settings.conf_dir.mkdir(parents=True, exist_ok=True)
        path = self._defaults_file(node)
        path.write_text("\n".join(lines))
        path.chmod(0o644)
        return path

    def _binlog_expiry(self) -> int:
        """Locally the backup scheduler deletes a binary log once it is archived and older
        than the retention (backups.mariabackup), so the server never expires one by itself
        (0); in containers, where no scheduler runs, they expire after the retention."""
        return 0 if self.settings.network is Network.LOOPBACK else binlog_retention_seconds()

    # --- lifecycle ---------------------------------------------------------------------
    def initialise(self, node: str, role: Role) -> None:
        """Both nodes start from an empty install; the replica then replays the primary."""
        defaults = self._write_defaults(node)
        datadir = owned_directory(self.settings, self.data_dir(node))
        self._make_run_dirs(node)
        try:
            self._install(defaults, service_user(self.settings).name)
        except NodeError:
            # Seen once with three installs at a time; the folder is ours, made just now.
            shutil.rmtree(datadir)
            owned_directory(self.settings, datadir)
            self._install(defaults, service_user(self.settings).name)
        mark_initialised(self.settings, datadir, node)

    def adopt_restored(self, node: str, *, history_after: int = 0) -> str:
        """Make a restored copy, just moved into ``node``'s data folder, that node's own:
        no replication of its past, and a binary-log state whose GTIDs go on after
        ``history_after`` (beyond every sequence the archive holds), so the new history's
        files never read as a continuation of the old one's. Done on a server of its own
        with no network, before the supervisor boots the node."""
        defaults = self._write_defaults(node)
        self._make_run_dirs(node)
        server_id = self.server_id(node)
        server = subprocess.Popen(
            [
                self.SERVER,
                f"--defaults-file={defaults}",
                f"--user={service_user(self.settings).name}",
                "--skip-networking",
                "--skip-slave-start",
                "--read-only=ON",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 120
            while not self.ping(node):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise NodeError(f"the restored copy does not boot as {node}")
                time.sleep(0.2)
            self._root_sql(
                node,
                "STOP SLAVE; RESET SLAVE ALL; RESET MASTER; "
                f"SET GLOBAL gtid_binlog_state = '0-{server_id}-{history_after}'; "
                "SET GLOBAL gtid_slave_pos = @@global.gtid_binlog_pos;",
            )
        finally:
            server.terminate()
            server.wait(timeout=120)
        mark_initialised(self.settings, self.data_dir(node), node)
        after = f"0-{server_id}-{history_after}"
        return f"{node} holds the restored copy; its transactions go on after {after}"

    def _make_run_dirs(self, node: str) -> None:
        owned_directory(self.settings, self._run_dir(node), 0o755)
        owned_directory(self.settings, self._run_dir(node) / "tmp")

    def _install(self, defaults: Path, user: str) -> None:
        result = subprocess.run(
            [
                "mariadb-install-db",
                f"--defaults-file={defaults}",
                f"--user={user}",
                "--skip-test-db",
                "--auth-root-authentication-method=socket",
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=180,
        )
        if result.returncode != 0:
            raise NodeError(f"mariadb-install-db failed: {result.stderr.strip()[-800:]}")

    def boot_argv(
        self,
        node: str,
        role: Role,
        *,
        synchronous: bool = True,
    ) -> list[str]:
        defaults = self._write_defaults(node)
        self._make_run_dirs(node)
        argv = [self.SERVER, f"--defaults-file={defaults}"]
        semi_sync = f"--{self.SEMI_SYNC_SOURCE.replace('_', '-')}-enabled"
        if role is Role.PRIMARY:
            # Semi-sync off only when the pair state already says the replica is behind.
            return [*argv, "--read-only=OFF", f"{semi_sync}={'ON' if synchronous else 'OFF'}"]
        return [*argv, *self.REPLICA_BOOT_FLAGS, f"{semi_sync}=OFF"]

    def _client(self, node: str) -> list[str]:
        """The command-line client as the local superuser: unix_socket authentication."""
        local_user = pwd.getpwuid(os.geteuid()).pw_name  # root, or the service user
        return [
            "mariadb",
            f"--defaults-file={self._defaults_file(node)}",
            f"--user={local_user}",
        ]

    def _root_sql(self, node: str, sql: str) -> str:
        """SQL as the local superuser over the node's socket (before our users exist). The
        statements go on standard input: they may hold passwords, which a command line
        would show to every local user (``ps``)."""
        result = subprocess.run(
            [*self._client(node), "--batch", "--skip-column-names"],
            input=sql,
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        if result.returncode != 0:
            raise NodeError(f"SQL on {node} failed: {result.stderr.strip()[-800:]}")
        return result.stdout

    def bootstrap_primary(self, node: str) -> None:
        """Users and the application database; run at every ``up`` (passwords are set
        again, so a changed secret takes effect). The owner runs the migrations; the
        application's user gets its table rights from them (core.migrate)."""
        pair = self.pair
        host = f"'{mysql_account_host(self.settings)}'"  # the grants in core.migrate use it too
        users = {
            ADMIN_USER: self.secrets.admin_password,
            REPLICATION_USER: self.secrets.replication_password,
            pair.owner_user: self.secrets.owner_password(pair.name),
            pair.app_user: self.secrets.app_password(pair.name),
            PROBE_USER: self.secrets.probe_db_password,
        }
        statements = [
            f"CREATE DATABASE IF NOT EXISTS `{pair.database}` CHARACTER SET utf8mb4",
            f"CREATE DATABASE IF NOT EXISTS `{PROBE_DATABASE}` CHARACTER SET utf8mb4",
            f"CREATE TABLE IF NOT EXISTS `{PROBE_DATABASE}`.`{PROBE_TABLE}` ({PROBE_COLUMNS})",
        ]
        for user, password in users.items():
            statements += [
                f"CREATE USER IF NOT EXISTS '{user}'@{host} IDENTIFIED BY {sql_string(password)}",
                f"ALTER USER '{user}'@{host} IDENTIFIED BY {sql_string(password)}",
            ]
        statements += [
            f"GRANT ALL PRIVILEGES ON *.* TO '{ADMIN_USER}'@{host} WITH GRANT OPTION",
            f"GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '{REPLICATION_USER}'@{host}",
            # No global privilege for either: read_only=ON then really stops them.
            f"GRANT ALL PRIVILEGES ON `{pair.database}`.* TO '{pair.owner_user}'@{host} "
            "WITH GRANT OPTION",
            f"GRANT SELECT, INSERT, UPDATE ON `{PROBE_DATABASE}`.`{PROBE_TABLE}` "
            f"TO '{PROBE_USER}'@{host}",
        ]
        self._root_sql(node, ";\n".join(statements) + ";")

    def attach_replica(self, replica: str, primary: str) -> None:
        status = self._root_sql(replica, f"{self.SHOW_REPLICA_STATUS}\\G")
        wanted_port = f"{self.SOURCE_PORT}: {self.settings.port(primary)}"
        if wanted_port in status and f"{self.IO_RUNNING}: Yes" in status:
            return
        self._attach_fresh(replica, primary)

    def _change_master(self, primary: str) -> str:
        return (
            f"CHANGE MASTER TO MASTER_HOST={sql_string(self.settings.host(primary))}, "
            f"MASTER_PORT={self.settings.port(primary)}, MASTER_USER='{REPLICATION_USER}', "
            f"MASTER_PASSWORD={sql_string(self.secrets.replication_password)}, "
            "MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1, MASTER_HEARTBEAT_PERIOD=0.5"
        )

    # --- observation -------------------------------------------------------------------
    def connect_admin(self, node: str, timeout: float = 1.0) -> pymysql.connections.Connection[Any]:
        host = self.settings.host(node)
        return pymysql.connect(
            host=host,
            port=self.settings.port(node),
            user=ADMIN_USER,
            password=self.secrets.admin_password,
            connect_timeout=timeout,
            read_timeout=max(2.0, timeout),
            write_timeout=max(2.0, timeout),
            cursorclass=pymysql.cursors.DictCursor,
            autocommit=True,
            **mysql_transport_options(host),
        )

    def probe(self, node: str) -> NodeProbe:
        try:
            connection = self.connect_admin(node)
        except pymysql.MySQLError as error:
            return NodeProbe(node=node, reachable=False, error=one_line(error))
        try:
            with connection.cursor() as cursor:
                return self._probe_with(cursor, node)
        except pymysql.MySQLError as error:
            return NodeProbe(node=node, reachable=False, error=one_line(error))
        finally:
            connection.close()

    def _probe_with(self, cursor: Any, node: str) -> NodeProbe:
        cursor.execute(f"SELECT @@global.read_only AS ro, @@global.{self.POSITION_VARIABLE} AS pos")
        head = cursor.fetchone()
        cursor.execute(self.SHOW_REPLICA_STATUS)
        replica = cursor.fetchone()
        cursor.execute(
            "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST "
            "WHERE COMMAND LIKE 'Binlog Dump%'"
        )
        dumps = int(cursor.fetchone()["n"])
        cursor.execute(f"SHOW GLOBAL STATUS LIKE '{self.SEMI_SYNC_SOURCE}_status'")
        semi = cursor.fetchone()
        cursor.execute(f"SELECT @@global.{self.SEMI_SYNC_SOURCE}_enabled AS enabled")
        semi_enabled = bool(int(cursor.fetchone()["enabled"]))
        writable = not bool(int(head["ro"]))
        position = " ".join(str(head["pos"]).split())  # MySQL's GTID sets span lines
        received = None
        if replica:
            relayed = " ".join(str(replica.get(self.RECEIVED_POSITION) or "").split())
            received = ",".join(part for part in (relayed, position) if part)
        behind = replica.get(self.SECONDS_BEHIND) if replica else None
        lag_seconds = float(behind) if behind is not None else None
        return NodeProbe(
            node=node,
            reachable=True,
            writable=writable,
            upstream_port=int(replica[self.SOURCE_PORT]) if replica else None,
            receiving=bool(replica) and replica.get(self.IO_RUNNING) == "Yes",
            follows_someone=bool(replica),
            replica_streaming=dumps > 0,
            sync_configured=semi_enabled,
            sync_active=bool(semi) and semi["Value"] == "ON",
            position=position,
            received=received,
            lag=f"{behind} s" if behind is not None else None,
            lag_seconds=lag_seconds,
            error=(replica or {}).get("Last_IO_Error") or (replica or {}).get("Last_SQL_Error"),
        )

    def ping(self, node: str) -> bool:
        """Answers SQL over its local socket (works before our users exist)."""
        try:
            self._root_sql(node, "SELECT 1")
        except (NodeError, subprocess.TimeoutExpired):
            return False
        return True

    def set_synchronous(self, node: str, on: bool) -> None:
        connection = self.connect_admin(node, timeout=2.0)
        try:
            with connection.cursor() as cursor:
                value = "ON" if on else "OFF"
                cursor.execute(f"SET GLOBAL {self.SEMI_SYNC_SOURCE}_enabled = {value}")
        finally:
            connection.close()

    # --- failover ------------------------------------------------------------------------
    def _admin(self, node: str, *statements: str) -> Any:
        connection = self.connect_admin(node, timeout=2.0)
        try:
            with connection.cursor() as cursor:
                result = None
                for statement in statements:
                    cursor.execute(statement)
                    result = cursor.fetchall()
                return result
        finally:
            connection.close()

    def promote(self, node: str) -> str:
        status = self._admin(node, "SHOW SLAVE STATUS")
        applied = "nothing to apply"
        if status:
            received = status[0]["Gtid_IO_Pos"]
            # Everything the replica received (semi-sync acknowledged it) is applied first.
            waited = self._admin(node, f"SELECT MASTER_GTID_WAIT({sql_string(received)}, 10) AS w")
            if waited and int(waited[0]["w"]) != 0:
                raise NodeError(f"{node} did not apply its relay log up to {received} in 10 s")
            applied = f"applied everything received ({received or 'empty'})"
        self._admin(
            node,
            "STOP SLAVE",
            "RESET SLAVE ALL",
            # Alone now, as the pair state records (replica_in_sync false): commits go on
            # without waiting; the monitor turns semi-sync on once the old primary streams.
            "SET GLOBAL rpl_semi_sync_master_enabled = OFF",
            "SET GLOBAL read_only = OFF",
        )
        return f"{node} promoted: {applied}, replication reset, read_only off"

    def _follow(self, node: str, primary: str) -> None:
        status = self._admin(node, "SHOW SLAVE STATUS")
        following = bool(status) and int(status[0]["Master_Port"]) == self.settings.port(primary)
        statements = ["STOP SLAVE", "SET GLOBAL rpl_semi_sync_master_enabled = OFF"]
        if not following:
            # An ex-primary resumes after everything it wrote itself.
            statements += [
                "RESET SLAVE ALL",
                "SET GLOBAL gtid_slave_pos = @@global.gtid_binlog_pos",
            ]
        statements += [self._change_master(primary), "START SLAVE"]
        self._admin(node, "SET GLOBAL read_only = ON", *statements)

    def _replication_error(self, node: str, primary: str, wait: float = 10.0) -> str | None:
        """None once ``node`` has applied everything ``primary`` had when asked; else the
        error. Both threads say "Yes" the moment replication starts, before a diverged
        node meets its first conflicting event (out-of-order GTID, 1236): only having
        caught up proves it follows."""
        target = self._admin(primary, self.PRIMARY_POSITION)[0]["p"]
        deadline = time.monotonic() + wait
        while True:
            try:
                status = self._admin(node, self.SHOW_REPLICA_STATUS)
            except pymysql.MySQLError as refused:
                # A rebuilt node knows our users only once it has replayed their creation.
                if time.monotonic() > deadline:
                    return f"cannot check replication: {one_line(refused)}"
                time.sleep(0.2)
                continue
            row = status[0] if status else {}
            error = row.get("Last_IO_Error") or row.get("Last_SQL_Error")
            if error:
                return str(error)
            running = row.get(self.IO_RUNNING) == "Yes" and row.get(self.SQL_RUNNING) == "Yes"
            if running:
                waited = self._admin(
                    node, self.WAIT_FOR_POSITION.format(position=sql_string(target))
                )
                if int(waited[0]["w"]) == 0:
                    return None
            if time.monotonic() > deadline:
                return "replication did not start" if not running else "did not catch up"
            time.sleep(0.2)

    def last_ran_as_primary(self, node: str) -> bool:
        return False  # its ex-primary boots read-only and is judged by GTIDs after boot

    def rewind_or_rebuild(self, node: str, primary: str) -> str:
        return f"{node} rejoins {primary} once booted (rejoin), nothing to undo before"

    def rejoin(
        self,
        node: str,
        primary: str,
        control: ProcessControl,
    ) -> str:
        if not self._has_our_users(node):
            # Installed, but its copy never arrived (the primary was not up yet).
            self._attach_fresh(node, primary)
            return f"{node} loaded a copy of {primary} and replicates from it"
        self._follow(node, primary)
        error = self._replication_error(node, primary)
        if error is None:
            return f"{node} replicates from {primary}"
        # Errant transactions (it committed what the new primary never got).
        return self.rebuild(node, primary, control, reason=f"it had diverged: {error}")

    def rebuild(
        self,
        node: str,
        primary: str,
        control: ProcessControl,
        *,
        reason: str,
    ) -> str:
        """Copy ``node`` afresh from ``primary``, keeping its old data aside."""
        control.stop(node)
        if os.geteuid() == 0:  # a container's agent, or an operator's command
            kept = f"old data kept in {move_aside(self.data_dir(node))}"
            self.initialise(node, Role.REPLICA)
        else:
            # A local monitor runs unprivileged and the node's files are root's: the node's
            # entry, which runs as root, sets the data aside and makes it at its next boot.
            rebuild_request(self.settings, node).write_text(f"{primary}\n")
            kept = f"old data kept aside in {self.data_dir(node).name}{DIVERGED}*"
        control.start(node)
        deadline = time.monotonic() + 30
        while not self.ping(node):
            if time.monotonic() > deadline:
                raise NodeError(f"rebuilt {node} does not answer")
            time.sleep(0.1)
        self._attach_fresh(node, primary)
        still = self._replication_error(node, primary, wait=60)
        if still is not None:
            raise NodeError(f"rebuilt {node} still cannot replicate: {still}")
        return f"{node} rebuilt from {primary} ({reason}), {kept}"

    def _attach_fresh(self, node: str, primary: str) -> None:
        """A just-installed node gets a consistent copy of the primary and replicates from
        the copy's GTID position on: no replay of the whole history, which binary-log
        retention purges anyway. Done as root over the socket (the copy brings our users)."""
        position = self._copy_from(node, primary)
        change = self._change_master(primary)
        self._root_sql(
            node,
            "STOP SLAVE; RESET MASTER; "
            f"SET GLOBAL gtid_slave_pos = {sql_string(position)}; {change}; START SLAVE;",
        )

    def _has_our_users(self, node: str) -> bool:
        found = self._root_sql(node, f"SELECT COUNT(*) FROM mysql.user WHERE User = '{ADMIN_USER}'")
        return found.strip() not in ("", "0")

    def _copy_position(self, copy: Path) -> str:
        return copy_position(copy)

    def _copy_from(self, node: str, primary: str) -> str:
        """Load a logical copy of ``primary`` (one transaction, so consistent, with the
        GTID position it stands at) into ``node``, unlogged; returns that position.

        Logical, not ``mariadb-backup``: a physical copy must run beside the primary's
        files, and in containers the rebuilt node's agent has only the network."""
        with tempfile.TemporaryDirectory(dir=self._run_dir(node) / "tmp") as folder:
            options = Path(folder) / "client.cnf"
            descriptor = os.open(options, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:  # no password on a command line
                handle.write(
                    f"[client]\nuser={ADMIN_USER}\npassword={self.secrets.admin_password}\n"
                    f"host={self.settings.host(primary)}\nport={self.settings.port(primary)}\n"
                )
            copy = Path(folder) / "copy.sql"
            with copy.open("wb") as output:
                dumped = subprocess.run(
                    [self.DUMP, f"--defaults-extra-file={options}", *self.DUMP_OPTIONS],
                    stdout=output,
                    stderr=subprocess.PIPE,
                    check=False,
                    timeout=3600,
                )
            if dumped.returncode != 0:
                said = dumped.stderr.decode(errors="replace").strip()[-800:]
                raise NodeError(f"copying {primary} failed: {said}")
            position = self._copy_position(copy)
            with copy.open("rb") as source:
                loaded = subprocess.run(
                    [*self._client(node), "--init-command=SET sql_log_bin=0"],
                    stdin=source,
                    capture_output=True,
                    check=False,
                    timeout=3600,
                )
            if loaded.returncode != 0:
                said = loaded.stderr.decode(errors="replace").strip()[-800:]
                raise NodeError(f"loading the copy of {primary} into {node} failed: {said}")
        return position
