"""What every engine adapter offers, and the plain data its probes return."""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import signal
import subprocess
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import ClassVar, Protocol

import psutil

from medsys.core.accounts import server_group
from medsys.core.secrets import Secrets, load_secrets
from medsys.core.settings import Settings
from medsys.core.topology import Pair
from medsys.pairs.node import NodeProbe, Role

INITIALISED_MARKER = ".medsys-initialised"


class NodeError(RuntimeError):
    """A node could not be initialised, bootstrapped or changed; the message says why."""


def one_line(error: object) -> str:
    """Driver errors span lines; logs and status want one."""
    return " ".join(str(error).split())


@dataclass(frozen=True)
class ServiceUser:
    name: str
    uid: int
    gid: int


def service_user(settings: Settings) -> ServiceUser:
    """Databases never run as root: as root we use the configured user, else ourselves."""
    if os.geteuid() == 0:
        try:
            entry = pwd.getpwnam(settings.service_user)
        except KeyError:
            raise NodeError(
                f"user {settings.service_user!r} does not exist; `medsys up` creates it"
            ) from None
    else:
        entry = pwd.getpwuid(os.geteuid())
    return ServiceUser(entry.pw_name, entry.pw_uid, entry.pw_gid)


def server_gid(settings: Settings) -> int:
    """The group a database server runs with (core.accounts.server_group) when started as
    root; otherwise our own."""
    if os.geteuid() != 0:
        return os.getegid()
    try:
        return grp.getgrnam(server_group(settings)).gr_gid
    except KeyError:
        raise NodeError(
            f"group {server_group(settings)!r} does not exist; `medsys up` creates it"
        ) from None


def run_as_service_user(
    settings: Settings, argv: list[str], *, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    program = Path(argv[0]).name
    user = service_user(settings)
    if os.geteuid() == 0:
        argv = ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--clear-groups", *argv]
    merged = {**os.environ, **(env or {})}
    result = subprocess.run(
        argv, capture_output=True, text=True, env=merged, timeout=timeout, check=False
    )
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip()[-800:]
        raise NodeError(f"{program} failed: {output}")
    return result


def owned_directory(
    settings: Settings, path: Path, mode: int = 0o700, *, account: str | None = None
) -> Path:
    """A folder of the service user (or of ``account``), made if missing (as root)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        if account is None:
            user = service_user(settings)
            os.chown(path, user.uid, user.gid)
        else:
            entry = pwd.getpwnam(account)
            os.chown(path, entry.pw_uid, entry.pw_gid)
    path.chmod(mode)
    return path


class ProcessControl(Protocol):
    """Start, stop and kill node processes (the launcher's supervisor implements it)."""

    def start(self, name: str, *, wait: bool = True) -> None: ...

    def stop(self, name: str) -> None: ...

    def kill(self, name: str) -> None: ...

    def is_process_running(self, name: str) -> bool: ...

    def failed_to_start(self, name: str) -> bool:
        """The server was started and died while starting, again and again: its data
        cannot boot (supervisord's FATAL). Not a stop or a kill, which are not failures."""


def give_to_service_user(settings: Settings, *paths: Path) -> None:
    """Files root made for the servers, handed to the service user (nothing to do when
    we are it). Symbolic links themselves, never what they point at."""
    if os.geteuid() != 0:
        return
    user = service_user(settings)
    for path in paths:
        os.lchown(path, user.uid, user.gid)


def mark_initialised(settings: Settings, data_dir: Path, node: str) -> None:
    """Our marker of a finished initialisation, owned by the service user: pg_rewind and
    pg_basebackup copy and rewrite every file in a data folder."""
    marker = data_dir / INITIALISED_MARKER
    marker.write_text(f"{node}\n")
    give_to_service_user(settings, marker)


def processes_using(data_dir: Path) -> list[psutil.Process]:
    """Processes working in a data folder: the server and every child it has, including
    PostgreSQL's, which leave the postmaster's process group (setsid)."""
    found = []
    for process in psutil.process_iter(["pid", "cwd"]):
        try:
            in_folder = process.info["cwd"] and Path(process.info["cwd"]) == data_dir
            if (
                in_folder
                and process.pid != os.getpid()
                and process.status() != psutil.STATUS_ZOMBIE
            ):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def kill_processes_using(data_dir: Path) -> int:
    """SIGKILL every process of a node (a fence must leave no backend able to commit)."""
    killed = 0
    for process in processes_using(data_dir):
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
            killed += 1
    return killed


def rebuild_request(settings: Settings, node: str) -> Path:
    """Where a monitor asks for ``node``'s data to be copied anew at its next boot: the
    node's entry does it, as root, before the server runs (``medsys.nodes.entry``)."""
    return settings.cluster_dir / f"{node}.rebuild-requested"


# Node data moved aside, never deleted: NODE.diverged-TIME (a node that diverged) and
# NODE.replaced-TIME (a node whose data an adopted restore replaced).
DIVERGED = ".diverged-"
REPLACED = ".replaced-"


def move_aside(data_dir: Path) -> Path:
    """Keep a diverged node's data for forensics instead of deleting it."""
    kept = data_dir.with_name(f"{data_dir.name}{DIVERGED}{time.strftime('%Y%m%dT%H%M%S')}")
    data_dir.rename(kept)
    return kept


class EngineAdapter:
    """What every engine's adapter is bound to: its pair, this system's settings, and the
    secrets, read when first needed (a process that only looks at a node's files, such as
    the chaos lab, holds none). Built once per pair by ``medsys.nodes.adapter_for``.

    The class attributes answer, for its engine, what callers would otherwise ask by
    naming the engine."""

    ENGINE_LABEL: ClassVar[str]  # for people: "PostgreSQL", "MariaDB", "MySQL"
    FLAVOUR: ClassVar[str]  # the container image's family: postgres, mariadb, mysql
    STOP_SIGNAL: ClassVar[signal.Signals]  # the signal for a clean, fast shutdown
    # True: a replica boots as a plain server and is attached (or rejoined) afterwards by
    # SQL; False: it boots already following its primary (a standby's configuration).
    ATTACHES_AFTER_BOOT: ClassVar[bool]

    def __init__(self, pair: Pair, settings: Settings, secrets: Secrets | None = None) -> None:
        self.pair = pair
        self.settings = settings
        self._given_secrets = secrets

    @cached_property
    def secrets(self) -> Secrets:
        if self._given_secrets is not None:
            return self._given_secrets
        return load_secrets(self.settings)


class NodeAdapter(Protocol):
    """One database pair's engine, bound to its settings and secrets."""

    pair: Pair
    settings: Settings
    ENGINE_LABEL: ClassVar[str]
    FLAVOUR: ClassVar[str]
    STOP_SIGNAL: ClassVar[signal.Signals]
    ATTACHES_AFTER_BOOT: ClassVar[bool]

    def data_dir(self, node: str) -> Path: ...

    def is_initialised(self, node: str) -> bool: ...

    def initialise(self, node: str, role: Role) -> None:
        """Create the node's data from nothing (a primary) or from the primary (a replica)."""

    def boot_argv(self, node: str, role: Role, *, synchronous: bool = True) -> list[str]:
        """Prepare files and return the server's argv for booting in ``role``; a primary
        boots with synchronous replication on unless the pair state records the replica
        out of sync (``synchronous`` false)."""

    def last_ran_as_primary(self, node: str) -> bool:
        """The data's own record that it last served writes, where the engine keeps one
        that must be undone before it boots as a replica (a PostgreSQL timeline)."""

    def rewind_or_rebuild(self, node: str, primary: str) -> str:
        """Before booting as a replica of ``primary``: undo what ``node`` wrote alone, or
        copy it anew; returns what was done, for the log."""

    def bootstrap_primary(self, node: str) -> None:
        """Users and the application database; idempotent."""

    def attach_replica(self, replica: str, primary: str) -> None:
        """Make ``replica`` follow ``primary``; idempotent."""

    def adopt_restored(self, node: str, *, history_after: int = 0) -> str:
        """Make a restored copy, moved into ``node``'s data folder, that node's own, its
        history set apart from the archive's (``history_after``: the sequence its
        transactions are numbered on from, past every one the old history used, where the
        engine numbers them; backups.chain.new_history_after)."""

    def probe(self, node: str) -> NodeProbe: ...

    def ping(self, node: str) -> bool:
        """Answers SQL as the local superuser (before our own users exist)."""

    def set_synchronous(self, node: str, on: bool) -> None:
        """Make the primary's commits wait for the replica (on) or not (off)."""

    def promote(self, node: str) -> str:
        """Make a replica the writable primary; returns what was done, for the log."""

    def rejoin(self, node: str, primary: str, control: ProcessControl) -> str:
        """Make ``node`` a replica of ``primary``, rebuilding it if it diverged."""

    def rebuild(self, node: str, primary: str, control: ProcessControl, *, reason: str) -> str:
        """Make ``node`` again as a replica of ``primary``, its old data set aside (never
        deleted), and start it; returns what was done, for the log."""
