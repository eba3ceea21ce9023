"""MySQL 8.4's statements, checked as text: no MySQL server can be installed on the machines
this runs on (Debian ships MariaDB only), so these pin down the dialect we rely on."""

from __future__ import annotations

from pathlib import Path

import pytest

from medsys.core.secrets import Secrets
from medsys.core.settings import Network, Settings
from medsys.core.topology import pair_named
from medsys.nodes import adapter_class
from medsys.nodes.base import NodeError
from medsys.nodes.mariadb import MariaDBAdapter, copy_position
from medsys.nodes.mysql import (
    MySQLAdapter,
    change_source,
    follow_statements,
    promotion_statements,
    server_options,
)

SETTINGS = Settings(state_dir=Path("/var/lib/medsys"), network=Network.COMPOSE)
SECRETS = Secrets(
    {
        "admin_password": "admin-pass-123",
        "replication_password": "it's-a-secret",
        "app_password_portal": "app-pass-12345",
    }
)


def test_replicas_auto_position_on_gtids_over_tls_by_host_name() -> None:
    statement = change_source(SETTINGS, SECRETS, "mysql_replica")
    assert statement.startswith("CHANGE REPLICATION SOURCE TO SOURCE_HOST='mysql_replica'")
    assert "SOURCE_PORT=3308" in statement
    assert "SOURCE_AUTO_POSITION=1" in statement
    assert "SOURCE_SSL=1" in statement
    assert "'it\\'s-a-secret'" in statement  # quoted, never spliced raw
    assert "MASTER" not in statement  # removed words in 8.4


def test_promotion_turns_off_super_read_only_and_resets_replication() -> None:
    statements = promotion_statements()
    assert statements.index("STOP REPLICA") < statements.index("RESET REPLICA ALL")
    assert "SET GLOBAL super_read_only = OFF" in statements
    assert statements[-1] == "SET GLOBAL read_only = OFF"
    # Alone after a promotion, as the pair state records: commits must not wait.
    assert "SET GLOBAL rpl_semi_sync_source_enabled = OFF" in statements


def test_a_follower_is_made_super_read_only_before_anything_else() -> None:
    statements = follow_statements(SETTINGS, SECRETS, "mysql_primary")
    assert statements[0] == "SET GLOBAL super_read_only = ON"
    assert statements[-1] == "START REPLICA"
    assert "SET GLOBAL rpl_semi_sync_source_enabled = OFF" in statements


def test_server_options_keep_commits_durable_and_semi_synchronous() -> None:
    options = server_options(SETTINGS, "mysql_primary", server_id=1, run_dir=Path("/run/x"))
    for wanted in (
        "gtid-mode=ON",
        "enforce-gtid-consistency=ON",
        "sync-binlog=1",
        "innodb-flush-log-at-trx-commit=1",
        "plugin-load-add=semisync_source.so",
        "rpl-semi-sync-source-wait-point=AFTER_SYNC",
        "bind-address=0.0.0.0",
        "port=3307",
        "mysqlx=OFF",
    ):
        assert wanted in options
    assert not any("slave" in option or "master" in option for option in options)


def test_the_portal_pair_speaks_mysql_only_where_asked(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    portal, clinical = pair_named("portal"), pair_named("clinical")
    monkeypatch.delenv("MEDSYS_MYSQL_SERVER", raising=False)
    assert adapter_class(portal) is MariaDBAdapter
    monkeypatch.setenv("MEDSYS_MYSQL_SERVER", "mysql")
    assert adapter_class(portal) is MySQLAdapter
    assert adapter_class(clinical) is MariaDBAdapter  # clinical is MariaDB everywhere


def test_each_server_boots_in_its_role_with_semi_sync_as_the_pair_state_says(
    tmp_path: Path,
) -> None:
    from medsys.core.secrets import ensure_secrets
    from medsys.pairs.node import Role

    settings = Settings(state_dir=tmp_path)
    ensure_secrets(settings)  # MySQL's defaults file carries the root password
    for pair_name, node, semi_sync, replica_flags in (
        (
            "clinical",
            "mariadb-master",
            "rpl-semi-sync-master",
            ["--read-only=ON", "--init-rpl-role=SLAVE"],
        ),
        ("portal", "mysql_primary", "rpl-semi-sync-source", ["--super-read-only=ON"]),
    ):
        adapter = (MariaDBAdapter if pair_name == "clinical" else MySQLAdapter)(
            pair_named(pair_name), settings, SECRETS
        )

        def flags(role: Role, synchronous: bool) -> list[str]:
            argv = adapter.boot_argv(node, role, synchronous=synchronous)  # noqa: B023
            return argv[2:]

        assert flags(Role.PRIMARY, True) == ["--read-only=OFF", f"--{semi_sync}-enabled=ON"]
        assert flags(Role.PRIMARY, False) == ["--read-only=OFF", f"--{semi_sync}-enabled=OFF"]
        assert flags(Role.REPLICA, True) == [*replica_flags, f"--{semi_sync}-enabled=OFF"]


def test_a_copy_names_the_gtid_position_it_stands_at(tmp_path: Path) -> None:
    copy = tmp_path / "copy.sql"
    copy.write_text(
        "-- CHANGE MASTER TO MASTER_USE_GTID=slave_pos;\n"
        + "INSERT INTO t VALUES (1);\n" * 1000
        + "-- SET GLOBAL gtid_slave_pos='0-1-59345,1-2-7';\n\n-- Dump completed\n"
    )
    assert copy_position(copy) == "0-1-59345,1-2-7"
    cut = tmp_path / "cut.sql"
    cut.write_text("INSERT INTO t VALUES (1);\n")
    with pytest.raises(NodeError, match="not a complete copy"):
        copy_position(cut)


def test_binary_logs_expire_and_copies_set_their_own_position(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MEDSYS_BINLOG_RETENTION_HOURS", "24")
    options = server_options(SETTINGS, "mysql_primary", server_id=1, run_dir=Path("/run/x"))
    assert "binlog-expire-logs-seconds=86400" in options
    assert "--set-gtid-purged=ON" in MySQLAdapter.DUMP_OPTIONS
    assert "--gtid" in MariaDBAdapter.DUMP_OPTIONS
    assert "--single-transaction" in MariaDBAdapter.DUMP_OPTIONS, "a consistent copy"
    monkeypatch.setenv("MEDSYS_BINLOG_RETENTION_HOURS", "0")
    with pytest.raises(NodeError):
        server_options(SETTINGS, "mysql_primary", server_id=1, run_dir=Path("/run/x"))


def test_local_mariadb_nodes_leave_binary_logs_to_the_archiver(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # Locally the backup scheduler deletes a binary log once archived; in containers,
    # where nothing archives them, they expire after the retention.
    monkeypatch.setenv("MEDSYS_BINLOG_RETENTION_HOURS", "24")
    clinical = pair_named("clinical")
    local = MariaDBAdapter(clinical, Settings(state_dir=Path("/var/lib/medsys")))
    assert local._binlog_expiry() == 0
    assert MariaDBAdapter(clinical, SETTINGS)._binlog_expiry() == 86400
