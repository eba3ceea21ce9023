"""Least privilege on the running system: who each process runs as, what it can read,
what the databases let the application's own user do."""

from __future__ import annotations

import grp
import os
import pwd
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import TypeVar

import psutil
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from medsys.core.accounts import Part, account_name, control_group
from medsys.core.db import mariadb_url, postgres_url
from medsys.core.secrets import view_path
from medsys.core.topology import PAIRS, Engine, Pair, pair_named
from medsys.launcher.services import Kind, service_table
from medsys.launcher.supervisor import Supervisor
from tests.conftest import MedsysCluster

T = TypeVar("T")

AS_ROOT = os.geteuid() == 0


def _service_processes(cluster: MedsysCluster) -> Iterator[tuple[str, psutil.Process]]:
    """Every process of every service: the supervised one and its children."""
    for name, info in Supervisor(cluster.settings).all_info().items():
        if info.pid:
            top = psutil.Process(info.pid)
            for process in (top, *top.children(recursive=True)):
                yield name, process


def _read_each(
    cluster: MedsysCluster, read: Callable[[psutil.Process], T]
) -> Iterator[tuple[str, T]]:
    """``read`` of every service process. One that ends while being read (the backup
    scheduler's short-lived mariadb-binlog, zstd or openssl) is passed over: it is gone,
    and holds nothing any more."""
    for name, process in _service_processes(cluster):
        try:
            yield name, read(process)
        except psutil.NoSuchProcess:
            continue


def _as_account(account: str, argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` as a service account would: its uid, gid and groups, nothing of root's."""
    entry = pwd.getpwnam(account)
    return subprocess.run(
        [
            "setpriv",
            f"--reuid={entry.pw_uid}",
            f"--regid={entry.pw_gid}",
            "--init-groups",
            *argv,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_no_service_runs_as_root_and_each_runs_as_its_own_account(
    cluster: MedsysCluster,
) -> None:
    expected = {
        service.name: account_name(cluster.settings, service.account or Part.DATA)
        for service in service_table(cluster.settings)
    }
    seen: dict[str, set[str]] = {}
    for name, user in _read_each(cluster, psutil.Process.username):
        seen.setdefault(name, set()).add(user)
    assert set(seen) == set(expected)
    for name, users in seen.items():
        assert "root" not in users, f"{name} runs as root"
        if AS_ROOT:
            assert users == {expected[name]}, name
    if AS_ROOT:  # one account per application: none can read another's files
        applications = {expected[s.name] for s in service_table(cluster.settings)}
        assert len(applications) == 7  # data, four services, nginx, the measurement
        measured = cluster.settings.measurement_dir.stat()
        observer = account_name(cluster.settings, Part.OBSERVER)
        assert pwd.getpwuid(measured.st_uid).pw_name == observer
        assert stat.S_IMODE(measured.st_mode) == 0o700


@pytest.mark.skipif(not AS_ROOT, reason="separate accounts exist only when started as root")
def test_each_account_reads_its_own_secrets_and_nothing_else(cluster: MedsysCluster) -> None:
    settings = cluster.settings
    clinical = account_name(settings, Part.CLINICAL)
    python = sys.executable
    probe = (
        "from medsys.core.secrets import load_secrets; from medsys.core.settings import "
        "load_settings; print(sorted(load_secrets(load_settings()).names()))"
    )
    environment = ["env", *(f"{k}={v}" for k, v in settings.to_environ().items())]
    loaded = _as_account(clinical, [*environment, python, "-c", probe])
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "['app_password_clinical']"
    keys = settings.secrets_dir / "keys"
    forbidden = [
        settings.secrets_dir / "secrets.json",
        view_path(settings, account_name(settings, Part.ADMIN)),
        view_path(settings, account_name(settings, Part.DATA)),
        keys / "admin.key",
        keys / "portal.key",
        keys / "middleware.key",
        settings.conf_dir / f"{cluster.roles('admin')[0]}.pgpass",
    ]
    for path in forbidden:
        assert path.exists(), path
        refused = _as_account(clinical, ["cat", str(path)])
        assert refused.returncode != 0 and "Permission denied" in refused.stderr, path
    assert _as_account(clinical, ["cat", str(keys / "clinical.key")]).returncode == 0
    assert _as_account(clinical, ["cat", str(keys / "admin.pub")]).returncode == 0
    # Another account's process environment is closed too, and holds no secret anyway.
    admin_pid = Supervisor(settings).info("app2-1").pid
    assert admin_pid is not None
    peek = _as_account(clinical, ["cat", f"/proc/{admin_pid}/environ"])
    assert peek.returncode != 0
    for name, environment in _read_each(cluster, psutil.Process.environ):
        assert not any(key.startswith("MEDSYS_DB_") for key in environment), name
    # Files that hold secrets: owner-only, the full set root's alone.
    full = (settings.secrets_dir / "secrets.json").stat()
    assert full.st_uid == 0 and stat.S_IMODE(full.st_mode) == 0o600
    view = view_path(settings, clinical).stat()
    assert pwd.getpwuid(view.st_uid).pw_name == clinical and stat.S_IMODE(view.st_mode) == 0o400
    # Only the monitors (the control group) may drive supervisord; no application can.
    socket = settings.run_dir / "supervisor.sock"
    assert socket.stat().st_gid == grp.getgrnam(control_group(settings)).gr_gid
    stopped = _as_account(
        clinical,
        [python, "-m", "supervisor.supervisorctl", "-s", f"unix://{socket}", "status"],
    )
    assert "Permission denied" in stopped.stdout + stopped.stderr


def test_no_password_is_ever_on_a_command_line(cluster: MedsysCluster) -> None:
    secrets = cluster.secrets.as_dict().values()
    for process in psutil.process_iter(["cmdline"]):
        line = " ".join(process.info["cmdline"] or [])
        assert not any(secret in line for secret in secrets), process.pid


@pytest.mark.skipif(not AS_ROOT, reason="the socket belongs to the service user only as root")
def test_postgres_trusts_no_one_on_its_socket_and_passwords_over_tcp(
    cluster: MedsysCluster,
) -> None:
    settings = cluster.settings
    primary = cluster.roles("admin")[0]
    folder = settings.run_dir / primary
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert pwd.getpwuid(folder.stat().st_uid).pw_name == settings.service_user
    hba = (settings.conf_dir / f"{primary}.hba.conf").read_text()
    assert "trust" not in hba and "peer map=medsys" in hba
    psql = "/usr/lib/postgresql/15/bin/psql"
    command = [psql, "-h", str(folder), "-p", str(settings.port(primary)), "-U", "postgres"]
    command += ["-d", "postgres", "-Atc", "SELECT current_user"]
    # The service user gets in by peer authentication, as the superuser...
    assert _as_account(settings.service_user, command).stdout.strip() == "postgres"
    # ...an application's account cannot even reach the socket.
    refused = _as_account(account_name(settings, Part.ADMIN), command)
    assert refused.returncode != 0 and "Permission denied" in refused.stderr
    # Over TCP a password is needed, whoever asks.
    no_password = _as_account(
        settings.service_user,
        [
            psql,
            "-h",
            "127.0.0.1",
            "-p",
            str(settings.port(primary)),
            "-U",
            "postgres",
            "-w",
            "-d",
            "postgres",
            "-c",
            "SELECT 1",
        ],
    )
    assert no_password.returncode != 0


def test_mariadb_root_logs_in_only_through_its_socket(cluster: MedsysCluster) -> None:
    for pair in (pair_named("clinical"), pair_named("portal")):
        primary = cluster.roles(pair.name)[0]
        with cluster.node_engine(primary, "mysql").connect() as connection:
            superusers = connection.execute(
                text(
                    "SELECT User, JSON_VALUE(Priv, '$.authentication_string'), "
                    "JSON_EXTRACT(Priv, '$.auth_or[*].plugin') FROM mysql.global_priv "
                    "WHERE User IN ('root', :service_user)"
                ),
                {"service_user": cluster.settings.service_user},
            ).all()
        # No password can ever match ("invalid"); the only way in is the socket's peer.
        assert {user for user, _, _ in superusers} == {"root", cluster.settings.service_user}
        for _, password_hash, plugins in superusers:
            assert password_hash == "invalid" and "unix_socket" in plugins
        over_tcp = create_engine(
            mariadb_url(user="root", password="", port=cluster.settings.port(primary))
        )
        with pytest.raises(DBAPIError, match="Access denied"), over_tcp.connect():
            pass
        over_tcp.dispose()


def _application_engine(cluster: MedsysCluster, pair: Pair):  # type: ignore[no-untyped-def]
    primary = cluster.roles(pair.name)[0]
    make = postgres_url if pair.engine is Engine.POSTGRES else mariadb_url
    url = make(
        user=pair.app_user,
        password=cluster.secrets.app_password(pair.name),
        port=cluster.settings.port(primary),
        database=pair.database,
    )
    return create_engine(url, isolation_level="AUTOCOMMIT")


# Each way around the audit log's triggers, as the engine spells it. MariaDB has no
# DISABLE TRIGGER: its nearest bypass is altering the table.
BYPASSES = {
    Engine.POSTGRES: (
        "UPDATE audit_log SET actor = 'x'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "ALTER TABLE audit_log DISABLE TRIGGER ALL",
        "DROP TRIGGER audit_log_no_change ON audit_log",
        "DROP TABLE audit_log",
    ),
    Engine.MARIADB: (
        "UPDATE audit_log SET actor = 'x'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "ALTER TABLE audit_log DISABLE TRIGGER ALL",
        "ALTER TABLE audit_log ENGINE = InnoDB",
        "DROP TRIGGER audit_log_no_update",
        "DROP TABLE audit_log",
    ),
}


@pytest.mark.parametrize("pair", PAIRS, ids=[pair.name for pair in PAIRS])
def test_the_application_user_can_only_read_and_add_to_the_audit_log(
    cluster: MedsysCluster, pair: Pair
) -> None:
    engine = _application_engine(cluster, pair)
    marker = f"hardening-{pair.name}-{os.getpid()}"
    with engine.connect() as connection:
        connection.execute(
            text(
                "INSERT INTO audit_log (occurred_at, actor, actor_role, action, resource) "
                "VALUES (CURRENT_TIMESTAMP, :actor, 'doctor', 'read', 'hardening-test')"
            ),
            {"actor": marker},
        )
        before = connection.execute(text("SELECT COUNT(*) FROM audit_log")).scalar_one()
        for statement in BYPASSES[pair.engine]:
            with pytest.raises(DBAPIError) as refused:
                connection.execute(text(statement))
            said = str(refused.value.orig).lower()
            assert any(
                word in said for word in ("denied", "permission", "must be owner", "syntax")
            ), (statement, said)
        after = connection.execute(text("SELECT COUNT(*) FROM audit_log")).scalar_one()
        kept = connection.execute(
            text("SELECT COUNT(*) FROM audit_log WHERE actor = :actor"), {"actor": marker}
        ).scalar_one()
    engine.dispose()
    assert after == before and kept == 1


@pytest.mark.parametrize("pair", PAIRS, ids=[pair.name for pair in PAIRS])
def test_the_application_user_may_create_nothing(cluster: MedsysCluster, pair: Pair) -> None:
    engine = _application_engine(cluster, pair)
    with pytest.raises(DBAPIError, match=r"(?i)denied"), engine.connect() as connection:
        connection.execute(text("CREATE TABLE not_allowed (id INT)"))
    engine.dispose()


def test_every_listening_socket_of_ours_is_on_loopback(cluster: MedsysCluster) -> None:
    ours = {process.pid for _, process in _service_processes(cluster)}
    listening = [
        (connection.laddr.ip, connection.laddr.port)
        for connection in psutil.net_connections(kind="inet")
        if connection.pid in ours and connection.status == "LISTEN" and connection.laddr
    ]
    ports = {port for _, port in listening}
    listeners = (Kind.APP, Kind.MONITOR, Kind.OBSERVER)
    assert {s.port for s in service_table(cluster.settings) if s.kind in listeners} <= ports
    assert all(address in ("127.0.0.1", "::1") for address, _ in listening)


@pytest.mark.parametrize("pair_name", ["clinical", "admin"])
def test_the_audit_log_is_read_through_indexes_by_person_and_by_patient(
    cluster: MedsysCluster, pair_name: str
) -> None:
    """Each person's own actions, and who looked at a patient, newest first: each read
    of a record adds a row, so without these a page would slow with every look."""
    from sqlalchemy import inspect

    from medsys.core.audit import ACTOR_INDEX, PATIENT_INDEX

    database = cluster.database(pair_name)
    try:
        indexes = database.read(
            lambda session: inspect(session.connection()).get_indexes("audit_log")
        )
    finally:
        database.dispose()
    found = {index["name"]: index["column_names"] for index in indexes}
    assert found.get(ACTOR_INDEX) == ["actor", "occurred_at"], found
    assert found.get(PATIENT_INDEX) == ["patient_rut", "occurred_at", "id"], found
    assert "ix_audit_log_patient_rut" not in found, "its prefix is not kept beside it"
    if pair_name == "admin":  # built CONCURRENTLY: a failed build would leave it invalid
        database = cluster.database(pair_name)
        try:
            valid = database.read(
                lambda session: session.execute(
                    text(
                        "SELECT i.indisvalid FROM pg_index i "
                        "JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = :name"
                    ),
                    {"name": PATIENT_INDEX},
                ).scalar_one()
            )
        finally:
            database.dispose()
        assert valid is True
