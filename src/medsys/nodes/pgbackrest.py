"""The admin pair's backups through pgBackRest: its configuration, and the commands
medsys runs (``backup``, ``info``, ``verify``, ``restore``), always as the service user,
which owns both the servers' data and the repository.

Both nodes are local paths of one stanza; pgBackRest finds which is primary, copies the
files from the standby (``backup-standby``) and only what is not replicated from the
primary. The configuration holds the repository's key, so it lives in the configuration
folder, the service user's alone (0600), and the repository never sees the key.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from medsys.core.secrets import Secrets, write_private
from medsys.core.settings import Network, Settings
from medsys.core.topology import pair_named
from medsys.nodes.base import NodeError, give_to_service_user, owned_directory, service_user

STANZA = "admin"
SUPERUSER = "postgres"  # reached over each node's socket by peer authentication
ARCHIVE_TIMEOUT_SECONDS = 60  # the most a restore can lose while the primary lives
PGBACKREST = "/usr/bin/pgbackrest"
DEFAULT_FULL_KEPT = 7


def config_path(settings: Settings, node: str | None = None) -> Path:
    """The stanza as medsys' commands see it (both nodes), or as ``node``'s archive
    command sees it: itself first, the only one a container has (docker-compose)."""
    return settings.conf_dir / (f"pgbackrest-{node}.conf" if node else "pgbackrest.conf")


def repository(settings: Settings) -> Path:
    return settings.backup_dir / "postgres"


def _work_dir(settings: Settings) -> Path:
    return settings.state_dir / "run" / "pgbackrest"


def render_config(
    settings: Settings, key: str, *, first: str | None = None, full_kept: int = DEFAULT_FULL_KEPT
) -> str:
    pair = pair_named("admin")
    nodes = sorted(pair.nodes, key=lambda node: node != first) if first else list(pair.nodes)
    if first and settings.network is Network.COMPOSE:
        nodes = [first]  # the other node's folder is in another container
    work = _work_dir(settings)
    lines = [
        "# written by medsys; holds the repository's key: the service user's alone",
        "[global]",
        f"repo1-path={repository(settings)}",
        "repo1-cipher-type=aes-256-cbc",
        f"repo1-cipher-pass={key}",
        f"repo1-retention-full={full_kept}",
        "backup-standby=y",
        "start-fast=y",
        "compress-type=zst",
        f"log-path={work / 'log'}",
        f"lock-path={work / 'lock'}",
        f"spool-path={work / 'spool'}",
        "log-level-console=warn",
        "log-level-file=info",
        "",
        f"[{STANZA}]",
    ]
    for number, node in enumerate(nodes, start=1):
        lines += [
            f"pg{number}-path={settings.data_dir / node}",
            f"pg{number}-port={settings.port(node)}",
            f"pg{number}-socket-path={settings.run_dir / node}",
            f"pg{number}-user={SUPERUSER}",
        ]
    return "\n".join(lines) + "\n"


def write_config(settings: Settings, secrets: Secrets, node: str | None = None) -> Path:
    """Before a PostgreSQL node boots (its archive command reads its own) and before any
    pgBackRest command (``node`` None)."""
    settings.conf_dir.mkdir(parents=True, exist_ok=True)
    owned_directory(settings, settings.backup_dir, 0o700)
    owned_directory(settings, repository(settings), 0o700)
    work = owned_directory(settings, _work_dir(settings), 0o700)
    for part in ("log", "lock", "spool"):
        owned_directory(settings, work / part, 0o700)
    path = config_path(settings, node)
    user = service_user(settings)
    kept = os.environ.get("MEDSYS_BACKUP_KEEP_FULL", "")
    write_private(
        path,
        render_config(
            settings,
            secrets.backup_key,
            first=node,
            full_kept=int(kept) if kept.isdigit() and int(kept) > 0 else DEFAULT_FULL_KEPT,
        ),
        0o600,
        owner=user.uid if os.geteuid() == 0 else None,
    )
    return path


def archive_settings(settings: Settings, node: str) -> dict[str, str]:
    """The server options that archive every WAL segment into the repository."""
    config = config_path(settings, node)
    return {
        "archive_mode": "on",
        "archive_command": f"{PGBACKREST} --config={config} --stanza={STANZA} archive-push %p",
        "archive_timeout": str(ARCHIVE_TIMEOUT_SECONDS),
    }


def _as_service_user(
    settings: Settings, argv: list[str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """As the service user, which owns the data and the repository; from "/", which it can
    always enter. (Its output, whatever the exit status: each caller reads its own.)"""
    if os.geteuid() == 0:
        user = service_user(settings)
        argv = ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--clear-groups", *argv]
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, check=False, cwd="/"
    )


def run(settings: Settings, *arguments: str, timeout: float = 3600, node: str | None = None) -> str:
    """A pgBackRest command as the service user; its output, or NodeError with its words.
    ``node``: with that node's own configuration (its archive command's)."""
    config = config_path(settings, node)
    argv = [PGBACKREST, f"--config={config}", f"--stanza={STANZA}", *arguments]
    done = _as_service_user(settings, argv, timeout)
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        raise NodeError(f"pgbackrest {arguments[0]} failed: {' '.join(said[-3:])[:600]}")
    return done.stdout


def ensure_stanza(settings: Settings, node: str | None = None) -> None:
    """Idempotent: makes the repository's record of the cluster, checks it matches.
    Until it exists the primary's WAL cannot be archived and piles up."""
    try:
        run(settings, "stanza-create", timeout=120, node=node)
    except NodeError as error:
        # A backup in progress holds the stanza's lock: the stanza exists, and matches
        # (the backup checked it); a second `up` beside the scheduler must not fail.
        made = (repository(settings) / "backup" / STANZA / "backup.info").exists()
        if not (made and "[050]" in str(error)):
            raise


@dataclass(frozen=True)
class Backup:
    label: str
    kind: str  # full, diff, incr
    started: datetime
    stopped: datetime
    size: int  # bytes of the database
    stored: int  # bytes in the repository (compressed)


@dataclass(frozen=True)
class Catalogue:
    backups: list[Backup]
    archive_min: str | None
    archive_max: str | None

    @property
    def last(self) -> Backup | None:
        return self.backups[-1] if self.backups else None

    @property
    def restorable_from(self) -> datetime | None:
        """The earliest moment a restore can reach: the end of the oldest backup."""
        return self.backups[0].stopped if self.backups else None


def parse_info(text: str) -> Catalogue:
    """pgBackRest's ``info --output=json`` for our stanza."""
    stanzas: list[dict[str, Any]] = json.loads(text or "[]")
    stanza = next((s for s in stanzas if s.get("name") == STANZA), {})

    def moment(value: Any) -> datetime:
        return datetime.fromtimestamp(int(value), UTC)

    backups = [
        Backup(
            label=b["label"],
            kind=b["type"],
            started=moment(b["timestamp"]["start"]),
            stopped=moment(b["timestamp"]["stop"]),
            size=int(b["info"]["size"]),
            stored=int(b["info"]["repository"]["delta"]),
        )
        for b in stanza.get("backup", [])
    ]
    archives = stanza.get("archive", [])
    lows = [a["min"] for a in archives if a.get("min")]
    highs = [a["max"] for a in archives if a.get("max")]
    return Catalogue(
        sorted(backups, key=lambda b: b.started), min(lows, default=None), max(highs, default=None)
    )


def catalogue(settings: Settings) -> Catalogue:
    return parse_info(run(settings, "info", "--output=json", timeout=60))


def take(settings: Settings, kind: str) -> Backup:
    if kind not in ("full", "diff", "incr"):
        raise ValueError(f"backup kind {kind!r}: full, diff or incr")
    run(settings, "backup", f"--type={kind}")
    last = catalogue(settings).last
    if last is None:
        raise NodeError("pgbackrest reported success but lists no backup")
    return last


def verify(settings: Settings) -> str:
    """Reads back every file of the repository and checks it against its checksum."""
    run(settings, "verify", timeout=3600)
    return "every backup and archived WAL segment read back and matched its checksum"


def restore_into(settings: Settings, folder: Path, target: datetime | None) -> Path:
    """The admin database as it was at ``target``, in a new data folder (never over a
    node's). pgBackRest writes the recovery settings; the server replays the archive up
    to the target when it boots, then promotes. ``None``: as the newest backup ended
    (its consistency point), with no archive beyond it needed."""
    if folder.exists() and any(folder.iterdir()):
        raise NodeError(f"{folder} is not empty: a restore never writes over anything")
    owned_directory(settings, folder, 0o700)
    if target is None:
        where = ["--type=immediate"]
    else:
        stamp = target.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")
        where = ["--type=time", f"--target={stamp}"]
    run(
        settings,
        "restore",
        f"--pg1-path={folder}",
        *where,
        "--target-action=promote",
        "--archive-mode=off",  # the copy must not push WAL into the pair's repository
    )
    return folder


def _beside(settings: Settings, folder: Path) -> Path:
    """The restored copy's own files (access rules, socket, log), next to its data."""
    return owned_directory(settings, folder.parent / f"{folder.name}.run", 0o700)


def _inspection_rules(settings: Settings, folder: Path) -> tuple[Path, Path]:
    """Who may reach a restored copy: the service user as the superuser on its socket,
    the applications' users with their passwords on loopback, as on a node."""
    hba = _beside(settings, folder) / "hba.conf"
    hba.write_text(
        f"local all {SUPERUSER} peer map=medsys\n"
        "local all all reject\n"
        "host all all 127.0.0.1/32 scram-sha-256\n"
    )
    ident = _beside(settings, folder) / "ident.conf"
    operators = sorted({service_user(settings).name, "root"})
    ident.write_text("".join(f"medsys {name} {SUPERUSER}\n" for name in operators))
    for path in (hba, ident):
        path.chmod(0o644)
    give_to_service_user(settings, hba, ident)
    return hba, ident


def serve_restored(settings: Settings, folder: Path, port: int, postgres: str) -> None:
    """Start a server on a restored folder (it replays up to the target, then promotes)
    and wait until it takes connections as a primary. It is nobody's replica and
    archives nothing; ``stop_restored`` ends it."""
    hba, ident = _inspection_rules(settings, folder)
    sockets = _beside(settings, folder)
    log_file = sockets / "server.log"
    options = {
        "port": str(port),
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": str(sockets),
        "hba_file": str(hba),
        "ident_file": str(ident),
        "cluster_name": f"restored-{folder.name}",
        "archive_mode": "off",
        "synchronous_standby_names": "",  # the pair's standby is not here: never wait for it
        "primary_conninfo": "",
    }
    argv = [str(Path(postgres).parent / "pg_ctl"), "-D", str(folder), "-w", "-t", "300"]
    argv += ["-l", str(log_file), "-o"]
    argv.append(" ".join(f"-c {name}='{value}'" for name, value in options.items()))
    argv.append("start")
    started = _as_service_user(settings, argv, 330)
    if started.returncode != 0:
        said = log_file.read_text(errors="replace") if log_file.exists() else ""
        lines = said.strip().splitlines()
        if any("before configured recovery target" in line for line in lines):
            raise NodeError(
                "the archive holds no commit after that moment yet (PostgreSQL stops at the "
                "first one past it): choose an earlier moment, or wait for the next write "
                f"and archived WAL segment; the copy's log: {log_file}"
            )
        raise NodeError(f"the restored copy did not start: {' '.join(lines[-3:])[:600]}")
    _wait_promoted(sockets, port)


def _wait_promoted(sockets: Path, port: int, timeout: float = 300) -> None:
    """pg_ctl returns once the copy takes connections; it replays to the target first."""
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(
                host=str(sockets), port=port, user=SUPERUSER, dbname="postgres", connect_timeout=5
            ) as connection:
                row = connection.execute("SELECT pg_is_in_recovery()").fetchone()
                if row is not None and not row[0]:
                    return
        except psycopg.Error:
            pass
        if time.monotonic() > deadline:
            raise NodeError(f"the restored copy was still replaying after {timeout:.0f} s")
        time.sleep(0.5)


def stop_restored(settings: Settings, folder: Path, postgres: str) -> None:
    argv = [str(Path(postgres).parent / "pg_ctl"), "-D", str(folder), "-m", "fast", "-w", "stop"]
    stopped = _as_service_user(settings, argv, 120)
    if stopped.returncode != 0 and "Is server running?" not in stopped.stderr:
        raise NodeError(f"pg_ctl stop failed: {stopped.stderr.strip()[:300]}")
