"""The clinical and portal pairs' backups: physical base copies by ``mariadb-backup`` and
an archive of every binary-log file the primary closes, so that a restore replays from a
copy up to a chosen second (``medsys.backups.chain`` decides which files).

Everything stored is compressed (zstd) and encrypted (``openssl enc``, AES-256 with a key
derived from the secrets' ``backup_key``, never kept beside it), with a SHA-256 of the
stored bytes in the catalogue. The repository (``MEDSYS_BACKUP_DIR/<pair>``) holds
``base/<label>/`` (the copy and its ``backup.json``) and ``binlog/`` (one file per archived
binary log and ``index.jsonl``, one line each). Both the scheduler and ``medsys backup``
work as the service user, which owns the servers' data and the repository.

The primary closes its binary log at least every ``MEDSYS_BINLOG_ARCHIVE_SECONDS`` (60)
when it holds something new (``FLUSH BINARY LOGS``), so a restore loses at most about that
much. A node deletes a binary log only once it is archived and older than the retention
(``MEDSYS_BINLOG_RETENTION_HOURS``), which lets a replica that was away catch up.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, TypeVar

import pymysql
import pymysql.cursors

from medsys.backups.chain import (
    BaseBackup,
    ClosedFile,
    RestorePlan,
    Segment,
    chain_end,
    expired,
    gtid_at,
    plan_restore,
    purgeable,
    sequence_of,
    to_archive,
    transactions_in,
)
from medsys.core.connect import mysql_transport_options
from medsys.core.secrets import Secrets
from medsys.core.settings import Settings
from medsys.core.topology import pair_named
from medsys.nodes.base import NodeError, one_line, owned_directory, service_user
from medsys.nodes.mariadb import ADMIN_USER, binlog_retention_seconds

PAIRS = ("clinical", "portal")
DEFAULT_ARCHIVE_SECONDS = 60.0
DEFAULT_FULL_KEPT = 7
ZSTD = ("zstd", "-q", "-3", "-T1", "-c")
CIPHER = ("openssl", "enc", "-aes-256-cbc", "-pbkdf2", "-md", "sha256")

Result = TypeVar("Result")


def archive_every() -> float:
    """MEDSYS_BINLOG_ARCHIVE_SECONDS: the most a restore of these pairs can lose."""
    text = os.environ.get("MEDSYS_BINLOG_ARCHIVE_SECONDS") or str(DEFAULT_ARCHIVE_SECONDS)
    try:
        seconds = float(text)
    except ValueError:
        raise NodeError(f"MEDSYS_BINLOG_ARCHIVE_SECONDS must be seconds, got {text!r}") from None
    if not 1 <= seconds <= 3600:
        raise NodeError(f"MEDSYS_BINLOG_ARCHIVE_SECONDS must be 1 to 3600, got {text!r}")
    return seconds


def full_kept() -> int:
    kept = os.environ.get("MEDSYS_BACKUP_KEEP_FULL", "")
    return int(kept) if kept.isdigit() and int(kept) > 0 else DEFAULT_FULL_KEPT


def repository(settings: Settings, pair: str) -> Path:
    return settings.backup_dir / pair


def call_as_service_user(
    settings: Settings, function: Callable[..., Result], *arguments: Any
) -> Result:
    """Run ``function`` as the service user: in this process when we are it, else in a
    forked child that drops root first (files it makes are the service user's, as the
    scheduler's are). Its result or its exception comes back pickled."""
    if os.geteuid() != 0:
        return function(*arguments)
    user = service_user(settings)
    context = multiprocessing.get_context("fork")
    receiving, sending = context.Pipe(duplex=False)

    def child() -> None:
        try:
            os.setgroups([])
            os.setgid(user.gid)
            os.setuid(user.uid)
            os.chdir("/")
            sending.send((True, function(*arguments)))
        except BaseException as error:
            try:
                sending.send((False, error))
            except Exception:
                sending.send((False, NodeError(one_line(error))))

    process = context.Process(target=child)
    process.start()
    sending.close()
    try:
        succeeded, value = receiving.recv()
    except EOFError:
        raise NodeError("the backup worker ended without an answer") from None
    finally:
        process.join()
    if not succeeded:
        raise value
    return value  # type: ignore[no-any-return]


# --- the sealed files -------------------------------------------------------------------


def _key_pipe(secrets: Secrets) -> int:
    """A pipe holding the repository key for ``openssl -pass fd:N``: never on a command
    line (``ps``) or in an environment (``/proc``)."""
    reading, writing = os.pipe()
    os.write(writing, secrets.backup_key.encode() + b"\n")
    os.close(writing)
    return reading


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _finish(processes: list[subprocess.Popen[bytes]], what: str, timeout: float) -> None:
    failed = []
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.returncode != 0:
            said = process.stderr.read().decode(errors="replace") if process.stderr else ""
            argv = process.args if isinstance(process.args, list) else [str(process.args)]
            failed.append(f"{Path(str(argv[0])).name}: {one_line(said.strip()[-400:])}")
    if failed:
        raise NodeError(f"{what} failed: {'; '.join(failed)}")


def seal(
    secrets: Secrets, source: IO[bytes] | Path, destination: Path, timeout: float = 3600
) -> tuple[str, int]:
    """Compress and encrypt ``source`` into ``destination`` (written under a temporary
    name, renamed when whole); its SHA-256 and size."""
    partial = destination.with_name(f".{destination.name}.partial")
    key = _key_pipe(secrets)
    opened = source.open("rb") if isinstance(source, Path) else None
    reading: IO[bytes] = opened if opened is not None else source  # type: ignore[assignment]
    try:
        compress = subprocess.Popen(
            ZSTD, stdin=reading, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        encrypt = subprocess.Popen(
            [*CIPHER, "-salt", "-pass", f"fd:{key}", "-out", str(partial)],
            stdin=compress.stdout,
            stderr=subprocess.PIPE,
            pass_fds=(key,),
        )
        assert compress.stdout is not None
        compress.stdout.close()
        _finish([compress, encrypt], f"storing {destination.name}", timeout)
    finally:
        os.close(key)
        if opened is not None:
            opened.close()
    with partial.open("rb") as handle:
        os.fsync(handle.fileno())
    partial.replace(destination)
    return _sha256(destination), destination.stat().st_size


@contextlib.contextmanager
def unsealed(secrets: Secrets, stored: Path, timeout: float = 3600) -> Iterator[IO[bytes]]:
    """The plain bytes of a sealed file, as a stream; fails if it does not decrypt and
    decompress whole."""
    key = _key_pipe(secrets)
    try:
        decrypt = subprocess.Popen(
            [*CIPHER, "-d", "-pass", f"fd:{key}", "-in", str(stored)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(key,),
        )
        decompress = subprocess.Popen(
            ("zstd", "-q", "-d", "-c"),
            stdin=decrypt.stdout,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert decrypt.stdout is not None and decompress.stdout is not None
        decrypt.stdout.close()
        yield decompress.stdout
        decompress.stdout.close()
        _finish([decrypt, decompress], f"reading {stored.name}", timeout)
    finally:
        os.close(key)


def unseal_to(secrets: Secrets, stored: Path, destination: Path) -> None:
    with unsealed(secrets, stored) as plain, destination.open("wb") as out:
        shutil.copyfileobj(plain, out, 1 << 20)


# --- the catalogue ----------------------------------------------------------------------


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _record(item: BaseBackup | Segment) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(item).items()}


def _segment(record: dict[str, Any]) -> Segment:
    times = ("first_time", "last_time", "covers_until", "archived_at")
    values: dict[str, Any] = {k: _moment(v) if k in times else v for k, v in record.items()}
    return Segment(**values)


def _backup(record: dict[str, Any]) -> BaseBackup:
    values: dict[str, Any] = {
        k: _moment(v) if k in ("started", "stopped") else v for k, v in record.items()
    }
    return BaseBackup(**values)


@dataclass(frozen=True)
class Catalogue:
    pair: str
    backups: list[BaseBackup]
    segments: list[Segment]

    @property
    def last(self) -> BaseBackup | None:
        return max(self.backups, key=lambda b: b.stopped) if self.backups else None

    @property
    def restorable_from(self) -> datetime | None:
        return min((b.stopped for b in self.backups), default=None)

    @property
    def archived_until(self) -> datetime | None:
        return max((s.covers_until for s in self.segments), default=None)


@dataclass
class PairBackups:
    """One pair's repository and the servers it is taken from."""

    settings: Settings
    secrets: Secrets
    pair: str
    _closed: dict[tuple[str, str, int], ClosedFile] = field(default_factory=dict)
    _last_flush: float = 0.0
    _closed_at: dict[str, datetime] = field(default_factory=dict)

    # --- places ----------------------------------------------------------------------
    @property
    def root(self) -> Path:
        return repository(self.settings, self.pair)

    def _prepare(self) -> None:
        owned_directory(self.settings, self.settings.backup_dir, 0o700)
        for folder in (self.root, self.root / "base", self.root / "binlog", self._work):
            owned_directory(self.settings, folder, 0o700)

    @property
    def _work(self) -> Path:
        return self.root / "work"

    @property
    def _index(self) -> Path:
        return self.root / "binlog" / "index.jsonl"

    @contextlib.contextmanager
    def _locked(self, exclusive: bool = True) -> Iterator[None]:
        """One writer at a time (the scheduler, ``medsys backup``), readers beside none."""
        self._prepare()
        with (self.root / ".lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield

    # --- the servers ------------------------------------------------------------------
    def _connect(self, node: str, port: int | None = None) -> pymysql.connections.Connection[Any]:
        host = self.settings.host(node) if port is None else "127.0.0.1"
        return pymysql.connect(
            host=host,
            port=port or self.settings.port(node),
            user=ADMIN_USER,
            password=self.secrets.admin_password,
            connect_timeout=3,
            read_timeout=60,
            write_timeout=60,
            cursorclass=pymysql.cursors.DictCursor,
            autocommit=True,
            **mysql_transport_options(host),
        )

    def _sql(self, node: str, *statements: str) -> list[dict[str, Any]]:
        connection = self._connect(node)
        try:
            with connection.cursor() as cursor:
                rows: list[dict[str, Any]] = []
                for statement in statements:
                    cursor.execute(statement)
                    rows = list(cursor.fetchall())
                return rows
        finally:
            connection.close()

    def roles(self) -> tuple[str | None, str | None]:
        """(primary, a replica that replicates from it), each None when not found."""
        primary = replica = None
        for node in pair_named(self.pair).nodes:
            try:
                head = self._sql(node, "SELECT @@global.read_only AS ro")[0]
                if not int(head["ro"]):
                    primary = node
                    continue
                status = self._sql(node, "SHOW SLAVE STATUS")
                if status and status[0].get("Slave_SQL_Running") == "Yes":
                    replica = node
            except pymysql.MySQLError:
                continue
        return primary, replica

    def closed_files(self, node: str) -> tuple[list[ClosedFile], str]:
        """The node's binary logs but the one it writes, with their GTID ranges; and the
        name of the one it writes."""
        listing = self._sql(node, "SHOW BINARY LOGS")
        closed: list[ClosedFile] = []
        for row in listing[:-1]:
            name, size = str(row["Log_name"]), int(row["File_size"])
            known = self._closed.get((node, name, size))
            if known is None:
                known = self._describe(node, name, size)
                self._closed[(node, name, size)] = known
            closed.append(known)
        return closed, str(listing[-1]["Log_name"]) if listing else ""

    def _describe(self, node: str, name: str, size: int) -> ClosedFile:
        quoted = name.replace("'", "")
        row = self._sql(
            node,
            f"SELECT BINLOG_GTID_POS('{quoted}', 4) AS s, BINLOG_GTID_POS('{quoted}', {size}) AS e",
        )[0]
        end = sequence_of(str(row["e"] or ""))
        start = sequence_of(str(row["s"] or ""))
        if start is None:
            # A log begun after RESET MASTER (a rebuilt replica) names no state: it starts
            # just before its first transaction.
            events = self._sql(node, f"SHOW BINLOG EVENTS IN '{quoted}' LIMIT 12")
            firsts = [sequence_of(str(e["Info"])) for e in events if e["Event_type"] == "Gtid"]
            first = next((f for f in firsts if f is not None), None)
            start = first - 1 if first is not None else (end or 0)
        return ClosedFile(name, start, end if end is not None else start)

    # --- the catalogue -----------------------------------------------------------------
    def catalogue(self) -> Catalogue:
        backups = []
        for manifest in sorted((self.root / "base").glob("*/backup.json")):
            backups.append(_backup(json.loads(manifest.read_text())))
        segments = []
        if self._index.exists():
            for line in self._index.read_text().splitlines():
                if line.strip():
                    segments.append(_segment(json.loads(line)))
        return Catalogue(self.pair, sorted(backups, key=lambda b: b.stopped), segments)

    def _append(self, segment: Segment) -> None:
        with self._index.open("a") as handle:
            handle.write(json.dumps(_record(segment)) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    # --- archiving ---------------------------------------------------------------------
    def archive(self, *, rotate_now: bool = False) -> tuple[list[Segment], bool]:
        """Close the primary's binary log when due, archive what the chain lacks, purge
        what is archived and old on both nodes. (Archived files, whether the chain broke.)"""
        with self._locked():
            primary, _replica = self.roles()
            if primary is None:
                return [], False
            found = self.catalogue()
            end = chain_end(found.segments)
            self._rotate_if_due(primary, end, rotate_now)
            closed, _writing = self.closed_files(primary)
            wanted = to_archive(closed, end)
            archived = [self._archive_one(primary, name) for name in wanted.files]
            self._purge(found.backups, [*found.segments, *archived])
            return archived, wanted.broken

    def _rotate_if_due(self, primary: str, end: int | None, now: bool) -> None:
        head = self._sql(primary, "SELECT @@global.gtid_binlog_pos AS p")[0]
        newest = sequence_of(str(head["p"] or ""))
        if newest is None or (end is not None and newest <= end):
            return  # nothing new since the chain's end
        if not now and time.monotonic() - self._last_flush < archive_every():
            return
        _closed, writing = self.closed_files(primary)
        self._sql(primary, "FLUSH BINARY LOGS")
        self._last_flush = time.monotonic()
        self._closed_at[f"{primary}/{writing}"] = datetime.now(UTC)

    def _client_options(self, folder: Path, node: str | None, port: int | None = None) -> Path:
        """A client options file with the admin password (never on a command line)."""
        options = folder / "client.cnf"
        host = self.settings.host(node) if node else "127.0.0.1"
        descriptor = os.open(options, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(
                f"[client]\nuser={ADMIN_USER}\npassword={self.secrets.admin_password}\n"
                f"host={host}\nport={port or self.settings.port(node or '')}\n"
            )
        return options

    def _archive_one(self, node: str, name: str) -> Segment:
        described = next(f for f in self.closed_files(node)[0] if f.name == name)
        with tempfile.TemporaryDirectory(dir=self._work) as scratch:
            folder = Path(scratch)
            options = self._client_options(folder, node)
            fetched = subprocess.run(
                [
                    "mariadb-binlog",
                    f"--defaults-extra-file={options}",
                    "--read-from-remote-server",
                    "--raw",
                    f"--result-file={folder}/",
                    name,
                ],
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            raw = folder / name
            if fetched.returncode != 0 or not raw.exists():
                raise NodeError(f"fetching {name} from {node} failed: {fetched.stderr[-400:]}")
            found = _transactions(raw)
            destination = self.root / "binlog" / node
            owned_directory(self.settings, destination, 0o700)
            stored = destination / f"{described.end_seq:012d}-{name}.zst.enc"
            digest, stored_size = seal(self.secrets, raw, stored)
            archived_at = datetime.now(UTC)
            last_time = found.last[0] if found.last else None
            closed_at = self._closed_at.pop(f"{node}/{name}", None)
            segment = Segment(
                node=node,
                file=name,
                start_seq=described.start_seq,
                end_seq=described.end_seq,
                end_gtid=found.last[1] if found.last else gtid_at(f"0-0-{described.end_seq}"),
                first_time=found.first[0] if found.first else None,
                last_time=last_time,
                covers_until=closed_at or last_time or archived_at,
                stored=str(stored.relative_to(self.root)),
                sha256=digest,
                size=raw.stat().st_size,
                stored_size=stored_size,
                archived_at=archived_at,
            )
            self._append(segment)
            return segment

    def _purge(self, backups: list[BaseBackup], segments: list[Segment]) -> None:
        keep_for = timedelta(seconds=binlog_retention_seconds())
        for node in pair_named(self.pair).nodes:
            try:
                closed, writing = self.closed_files(node)
                files = [*closed, ClosedFile(writing, 0, 0)]
                upto = purgeable(files, segments, backups, datetime.now(UTC), keep_for)
                if upto is not None:
                    self._sql(node, f"PURGE BINARY LOGS TO '{upto.replace(chr(39), '')}'")
            except pymysql.MySQLError:
                continue  # a node down keeps its files until it is back

    # --- base backups ------------------------------------------------------------------
    def take_full(self, *, retain: bool = True) -> BaseBackup:
        """A physical copy from the replica (the primary when none replicates), while both
        keep serving; then the retention (``retain`` False: a benchmark's copy, which must
        not push real ones out)."""
        with self._locked():
            primary, replica = self.roles()
            source = replica or primary
            if source is None:
                raise NodeError(f"no node of the {self.pair} pair answers")
            backup = self._copy(source)
            if retain:
                self._retain()
        if primary is not None:
            self.archive(rotate_now=True)  # the chain continues from the copy at once
        return backup

    def _copy(self, node: str) -> BaseBackup:
        started = datetime.now(UTC)
        label = started.strftime("%Y%m%dT%H%M%SZ")
        folder = self.root / "base" / label
        if folder.exists():
            raise NodeError(f"a backup labelled {label} exists; try again in a second")
        with tempfile.TemporaryDirectory(dir=self._work) as scratch:
            work = Path(scratch)
            options = self._client_options(work, node)
            lsn = work / "lsn"
            copying = subprocess.Popen(
                [
                    "mariadb-backup",
                    f"--defaults-extra-file={options}",
                    "--backup",
                    "--stream=mbstream",
                    f"--target-dir={work / 'target'}",
                    f"--extra-lsndir={lsn}",
                    f"--datadir={self.settings.data_dir / node}",
                    "--parallel=1",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=work,
            )
            assert copying.stdout is not None
            partial = work / "copy"
            partial.mkdir()
            try:
                digest, stored_size = seal(self.secrets, copying.stdout, partial / "data.zst.enc")
            finally:
                copying.stdout.close()
            _finish([copying], f"mariadb-backup of {node}", 3600)
            info = (lsn / "xtrabackup_info").read_text()
            gtid = _backup_gtid(info)
            size = sum(
                p.stat().st_size
                for p in (self.settings.data_dir / node).rglob("*")
                if p.is_file() and "-bin." not in p.name and "-relay." not in p.name
            )
            backup = BaseBackup(
                label=label,
                node=node,
                started=started,
                stopped=datetime.now(UTC),
                gtid=gtid,
                seq=sequence_of(gtid) or 0,
                stored=f"base/{label}/data.zst.enc",
                sha256=digest,
                size=size,
                stored_size=stored_size,
            )
            (partial / "backup.json").write_text(json.dumps(_record(backup), indent=1) + "\n")
            partial.rename(folder)
        return backup

    def forget(self, label: str) -> None:
        """Delete one copy (a benchmark's own)."""
        with self._locked():
            shutil.rmtree(self.root / "base" / label, ignore_errors=True)

    def _retain(self) -> None:
        found = self.catalogue()
        dropped, old = expired(found.backups, found.segments, full_kept())
        for backup in dropped:
            shutil.rmtree(self.root / "base" / backup.label, ignore_errors=True)
        if old:
            gone = {(s.node, s.file, s.end_seq) for s in old}
            kept = [s for s in found.segments if (s.node, s.file, s.end_seq) not in gone]
            partial = self._index.with_name(".index.jsonl.partial")
            partial.write_text("".join(json.dumps(_record(s)) + "\n" for s in kept))
            partial.replace(self._index)
            for segment in old:
                (self.root / segment.stored).unlink(missing_ok=True)

    # --- checks and restores -------------------------------------------------------------
    def verify(self) -> str:
        """Every stored file read back: its checksum, and that it decrypts and
        decompresses whole."""
        with self._locked(exclusive=False):
            found = self.catalogue()
            items: list[tuple[str, str]] = [(b.stored, b.sha256) for b in found.backups]
            items += [(s.stored, s.sha256) for s in found.segments]
            for stored, digest in items:
                path = self.root / stored
                if not path.exists():
                    raise NodeError(f"{self.pair}: {stored} is missing")
                if _sha256(path) != digest:
                    raise NodeError(f"{self.pair}: {stored} does not match its checksum")
                with unsealed(self.secrets, path) as plain:
                    while plain.read(1 << 20):
                        pass
        return (
            f"{self.pair}: {len(found.backups)} backups and {len(found.segments)} archived "
            "binary logs read back, decrypted and matched their checksums"
        )

    def restore_into(self, folder: Path, target: datetime, port: int) -> RestorePlan:
        """The pair as it was at ``target`` (to the whole second before it) in a new
        folder, served on ``port``: the newest copy before it, prepared, then the archived
        transactions up to it replayed."""
        beside = restore_folders(self.settings, folder)
        with self._locked(exclusive=False):
            found = self.catalogue()
            plan = plan_restore(found.backups, found.segments, target)
            with unsealed(self.secrets, self.root / plan.backup.stored) as plain:
                _checked(["mbstream", "-x", "-C", str(folder)], "unpacking the copy", plain)
            prepare = ["mariadb-backup", "--prepare", f"--target-dir={folder}", "--use-memory=128M"]
            _checked(prepare, "preparing the copy")
            _serve(folder, beside, port)
            self._replay(plan, beside, port)
        return plan

    def _replay(self, plan: RestorePlan, beside: Path, port: int) -> None:
        if not plan.steps:
            return
        stop = plan.target.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        options = self._client_options(beside, None, port)
        logs = beside / "binlog"
        logs.mkdir(exist_ok=True)
        groups: list[list[Any]] = []
        for step in plan.steps:
            if groups and groups[-1][0].segment.node == step.segment.node:
                groups[-1].append(step)
            else:
                groups.append([step])
        for group in groups:
            files = []
            for step in group:
                plain = logs / step.segment.file
                unseal_to(self.secrets, self.root / step.segment.stored, plain)
                files.append(str(plain))
            decode = subprocess.Popen(
                [
                    "mariadb-binlog",
                    "--no-defaults",
                    f"--start-position={group[0].after}",
                    f"--stop-datetime={stop}",
                    *files,
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={**os.environ, "TZ": "UTC"},
            )
            apply = subprocess.Popen(
                ["mariadb", f"--defaults-extra-file={options}", "--binary-mode"],
                stdin=decode.stdout,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            assert decode.stdout is not None
            decode.stdout.close()
            _finish([decode, apply], "replaying the archived binary logs", 3600)
            for name in files:
                Path(name).unlink()


def _checked(argv: list[str], what: str, stdin: IO[bytes] | None = None) -> None:
    done = subprocess.run(argv, stdin=stdin, capture_output=True, timeout=3600, check=False)
    if done.returncode != 0:
        raise NodeError(f"{what} failed: {done.stderr.decode(errors='replace')[-400:]}")


def _transactions(raw: Path) -> Any:
    decoded = subprocess.Popen(
        ["mariadb-binlog", "--no-defaults", str(raw)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TZ": "UTC"},
    )
    assert decoded.stdout is not None
    found = transactions_in(decoded.stdout)
    decoded.stdout.close()
    _finish([decoded], f"reading {raw.name}", 600)  # type: ignore[list-item]
    return found


_BINLOG_POS = re.compile(r"GTID of the last change '([0-9,-]*)'")


def _backup_gtid(info: str) -> str:
    found = _BINLOG_POS.search(info)
    if found is None or not found[1]:
        raise NodeError("mariadb-backup recorded no GTID position; the copy cannot be replayed on")
    return gtid_at(found[1])


def take_full(settings: Settings, secrets: Secrets, pair: str) -> BaseBackup:
    """A full copy of ``pair`` now (for ``call_as_service_user``: `medsys backup now`,
    and a restore adopted as the pair)."""
    return PairBackups(settings, secrets, pair).take_full()


# --- a restored copy ----------------------------------------------------------------------


def restore_folders(settings: Settings, folder: Path) -> Path:
    """The restored data's folder, empty, and beside it one for the copy's own files
    (options, socket, log); made by whoever may (root) before the work drops to the
    service user. Returns the second."""
    if folder.exists() and any(folder.iterdir()):
        raise NodeError(f"{folder} is not empty: a restore never writes over anything")
    owned_directory(settings, folder, 0o700)
    return owned_directory(settings, folder.parent / f"{folder.name}.run", 0o700)


def _serve(folder: Path, beside: Path, port: int, timeout: float = 300) -> None:
    """A server on the restored folder: nobody's replica, no binary log, loopback only."""
    (beside / "tmp").mkdir(exist_ok=True)
    options = beside / "server.cnf"
    options.write_text(
        "\n".join(
            [
                "[mariadbd]",
                f"datadir={folder}",
                f"port={port}",
                "bind-address=127.0.0.1",
                f"socket={beside / 'mariadb.sock'}",
                f"pid-file={beside / 'mariadb.pid'}",
                f"tmpdir={beside / 'tmp'}",
                f"log-error={beside / 'server.log'}",
                "server-id=4000",
                "skip-log-bin",
                "skip-slave-start",
                "read-only=OFF",
                "skip-name-resolve",
                "performance-schema=OFF",
                "innodb-buffer-pool-size=64M",
                "character-set-server=utf8mb4",
                "collation-server=utf8mb4_unicode_ci",
                "default-time-zone=+00:00",
                "",
            ]
        )
    )
    subprocess.Popen(
        ["/usr/sbin/mariadbd", f"--defaults-file={options}"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # outlives the command that started it
    )
    deadline = time.monotonic() + timeout
    while True:
        probe = subprocess.run(
            ["mariadb-admin", "--no-defaults", f"--socket={beside / 'mariadb.sock'}", "ping"],
            capture_output=True,
            check=False,
        )
        # "Access denied" also proves it answers: our users come from the copy.
        if probe.returncode == 0 or b"denied" in probe.stderr:
            return
        if time.monotonic() > deadline:
            log = beside / "server.log"
            tail = log.read_text(errors="replace").splitlines()[-3:] if log.exists() else []
            raise NodeError(f"the restored copy did not start: {' '.join(tail)[:600]}")
        time.sleep(0.3)


def stop_restored(folder: Path) -> None:
    pid_file = folder.parent / f"{folder.name}.run" / "mariadb.pid"
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text().split()[0])
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    raise NodeError(f"the restored server (pid {pid}) did not stop in 120 s")
