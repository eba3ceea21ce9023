"""Checks and installs that come before anything starts: packages, the service user, free
ports, a sane state folder. Each failure is a ``ProvisionError`` whose message tells a
person what is wrong and what to type; none of them deletes anything."""

from __future__ import annotations

import fcntl
import grp
import os
import pwd
import shutil
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from medsys.core.accounts import (
    Part,
    account_name,
    control_group,
    every_account,
    server_group,
)
from medsys.core.settings import Settings
from medsys.nodes.base import INITIALISED_MARKER, owned_directory


class ProvisionError(RuntimeError):
    def __init__(self, message: str, exit_code: int = 3) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Requirement:
    executable: str
    package: str
    # A service the package starts by itself under systemd, on every interface and with
    # its own configuration: medsys runs its own copy under supervisord instead.
    packaged_service: str | None = None


REQUIREMENTS = (
    Requirement("/usr/sbin/mariadbd", "mariadb-server"),
    Requirement("/usr/bin/mariadb", "mariadb-client"),
    Requirement("/usr/lib/postgresql/15/bin/postgres", "postgresql-15"),
    Requirement("/usr/sbin/nginx", "nginx-light"),
    Requirement("/usr/bin/setpriv", "util-linux"),
    Requirement("/usr/bin/pgbackrest", "pgbackrest"),  # the admin pair's backups
    # The clinical and portal pairs' backups (backups.mariabackup), compressed and encrypted.
    Requirement("/usr/bin/mariadb-backup", "mariadb-backup"),
    Requirement("/usr/bin/zstd", "zstd"),
    Requirement("/usr/bin/openssl", "openssl"),
    # Measurement (medsys.sla), installed without the node exporter Prometheus recommends.
    Requirement("/usr/bin/prometheus", "prometheus", "prometheus"),
    Requirement(
        "/usr/bin/prometheus-blackbox-exporter",
        "prometheus-blackbox-exporter",
        "prometheus-blackbox-exporter",
    ),
    # The saturation benchmarks' load generator (medsys.chaos.wrk_load).
    Requirement("/usr/bin/wrk", "wrk"),
)


def missing_packages() -> list[str]:
    missing = []
    for requirement in REQUIREMENTS:
        path = Path(requirement.executable)
        if not path.exists() and not (path.name == "postgres" and _any_postgres()):
            missing.append(requirement.package)
    return missing


def _any_postgres() -> bool:
    return any(Path("/usr/lib/postgresql").glob("*/bin/postgres"))


def install_command(packages: list[str]) -> str:
    return f"apt-get update && apt-get install -y {' '.join(packages)}"


def ensure_packages(say: Callable[[str], None] = print) -> None:
    missing = missing_packages()
    if not missing:
        return
    if os.geteuid() != 0:
        raise ProvisionError(
            f"missing packages: {', '.join(missing)}. Install them as root:\n"
            f"  sudo sh -c '{install_command(missing)}'",
            exit_code=4,
        )
    say(f"installing {', '.join(missing)} (apt-get)")
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]
    for argv in (["apt-get", "update", "-qq"], install):
        result = subprocess.run(argv, capture_output=True, text=True, env=environment, check=False)
        if result.returncode != 0:
            raise ProvisionError(
                f"`{' '.join(argv)}` failed:\n{result.stderr.strip()[-1500:]}", exit_code=4
            )
    _stop_packaged_services([r for r in REQUIREMENTS if r.package in missing])


def _stop_packaged_services(installed: list[Requirement]) -> None:
    """Under systemd, Debian starts a service as its package is installed (Prometheus on
    every interface at 9090); ours runs under supervisord on loopback instead."""
    units = [r.packaged_service for r in installed if r.packaged_service]
    if units and Path("/run/systemd/system").is_dir():
        subprocess.run(["systemctl", "disable", "--now", *units], capture_output=True, check=False)


def _create(argv: list[str], what: str) -> None:
    made = subprocess.run(argv, capture_output=True, text=True, check=False)
    if made.returncode != 0:
        raise ProvisionError(f"could not create {what}: {made.stderr.strip()}")


ACCOUNTS_LOCK = Path("/run/medsys-accounts.lock")


def ensure_service_accounts(settings: Settings) -> None:
    """As root: one unprivileged system account per part of the system (core.accounts),
    none with a shell or a home, and the group that may drive supervisord, whose only
    member is the service user (the monitors rejoin old primaries through it)."""
    if os.geteuid() != 0:
        return
    # Two systems brought up at once on one machine (test systems side by side) must not
    # both run useradd for the same account: one would fail on the other's.
    with ACCOUNTS_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _ensure_accounts(settings)


def _ensure_accounts(settings: Settings) -> None:
    for group in (control_group(settings), server_group(settings)):
        if not _group_exists(group):
            _create(["groupadd", "--system", group], f"group {group}")
    group = control_group(settings)
    for account in every_account(settings).values():
        if not _user_exists(account):
            _create(
                [
                    "useradd",
                    "--system",
                    "--user-group",
                    "--no-create-home",
                    "--home-dir",
                    "/nonexistent",
                    "--shell",
                    "/usr/sbin/nologin",
                    account,
                ],
                f"user {account}",
            )
    members = grp.getgrnam(group).gr_mem
    if settings.service_user not in members:
        _create(["usermod", "--append", "--groups", group, settings.service_user], group)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def prepare_state_folders(settings: Settings) -> None:
    """Who may write where. The service user owns the data, the configuration it writes at
    every boot and the pair state; root keeps the rest (logs, supervisord, the secrets);
    every service account may walk through to its own files."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    settings.state_dir.chmod(0o755)
    for folder in (settings.log_dir, settings.run_dir):
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o755)
    # The portal's outbox holds live password-reset links: its account's alone.
    owned_directory(settings, settings.mail_dir, 0o700, account=account_name(settings, Part.PORTAL))
    if os.geteuid() != 0:
        for folder in (settings.data_dir, settings.conf_dir, settings.cluster_dir):
            folder.mkdir(parents=True, exist_ok=True)
        return
    user = pwd.getpwnam(settings.service_user)
    for folder, mode in (
        (settings.data_dir, 0o700),
        (settings.conf_dir, 0o755),
        (settings.cluster_dir, 0o755),
    ):
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(mode)
        os.chown(folder, user.pw_uid, user.pw_gid)
    # Files an earlier version (or a root command) left behind, so the monitors can
    # append to them.
    for path in settings.cluster_dir.iterdir():
        os.chown(path, user.pw_uid, user.pw_gid)


def check_state_dir_reachable(settings: Settings) -> None:
    """The service accounts must be able to walk down to the state folder."""
    if os.geteuid() != 0:
        return
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["runuser", "-u", settings.service_user, "--", "test", "-x", str(settings.state_dir)],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        raise ProvisionError(
            f"the databases run as user {settings.service_user!r}, who cannot reach "
            f"{settings.state_dir} (a parent folder is closed to other users). Use a state "
            "folder it can reach, e.g. MEDSYS_STATE_DIR=/var/lib/medsys, or open the "
            "parents with chmod o+x."
        )


def check_node_folder(data_dir: Path, node: str) -> None:
    """A data folder that exists without our marker was never finished: refuse to touch it."""
    if (
        data_dir.exists()
        and any(data_dir.iterdir())
        and not (data_dir / INITIALISED_MARKER).exists()
    ):
        raise ProvisionError(
            f"{node}: {data_dir} holds data that was never finished initialising "
            "(an earlier `medsys up` was interrupted, or the folder was changed by hand). "
            "medsys will not guess and will not delete it. Move it aside, or start over "
            "with `medsys down -v` (which deletes all data).",
            exit_code=5,
        )


def port_holder(port: int) -> str | None:
    """Who listens on 127.0.0.1:port, as 'pid 123 (nginx)', or None when it is free."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
            return None
        except OSError:
            pass
    for connection in psutil.net_connections(kind="inet"):
        address = connection.laddr
        listening = connection.status == "LISTEN" and isinstance(address, tuple) and address
        if listening and getattr(address, "port", None) == port and connection.pid:
            try:
                name = psutil.Process(connection.pid).name()
            except psutil.NoSuchProcess:
                name = "?"
            return f"pid {connection.pid} ({name})"
    return "another process"


def check_port_free(service: str, port: int) -> None:
    holder = port_holder(port)
    if holder:
        raise ProvisionError(
            f"port {port} for {service} is already taken by {holder}. Stop that process, or "
            f"give {service} another port (MEDSYS_PORT_{service.upper().replace('-', '_')}=N "
            "or MEDSYS_PORT_OFFSET=N).",
            exit_code=6,
        )


def remove_state(settings: Settings) -> None:
    if settings.state_dir.exists():
        shutil.rmtree(settings.state_dir)
