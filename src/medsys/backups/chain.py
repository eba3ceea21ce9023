"""The archive of a MariaDB pair's binary logs as a chain of GTIDs (pure decisions).

Every transaction of a pair has a GTID ``domain-server-sequence``; with strict GTID mode
and one domain the sequence grows by one per transaction whichever node wrote it, and both
nodes log everything they apply (``log-slave-updates``). So a closed binary-log file,
whichever node it comes from, is a range of sequence numbers: after ``start_seq`` up to
``end_seq``. The archive is a set of such files; a restore starts from a base backup's
sequence number and follows the files that continue it, replaying from each only what
comes after the point reached (``mariadb-binlog --start-position`` takes a GTID and is
exclusive), so a file archived from the new primary after a failover, which repeats what
its predecessor already held, adds only what is new.

What this module decides: which of the primary's closed files to archive next and whether
the chain broke (then a full backup starts it again), which backup and files restore a
moment, which files a node may delete, which backups and files the retention drops.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

DOMAIN = 0  # medsys writes in one replication domain


def sequence_of(position: str, domain: int = DOMAIN) -> int | None:
    """The highest sequence number of ``domain`` in a GTID list ("0-1-5,0-2-9" -> 9);
    None when the list names nothing in it (an empty binary log)."""
    found = [
        int(seq)
        for dom, _server, seq in re.findall(r"(\d+)-(\d+)-(\d+)", position)
        if int(dom) == domain
    ]
    return max(found, default=None)


def gtid_at(position: str, domain: int = DOMAIN) -> str:
    """The one GTID of ``domain`` a GTID list stands at, for ``--start-position``
    (which takes one per domain)."""
    best = ""
    best_seq = -1
    for dom, server, seq in re.findall(r"(\d+)-(\d+)-(\d+)", position):
        if int(dom) == domain and int(seq) > best_seq:
            best, best_seq = f"{dom}-{server}-{seq}", int(seq)
    return best


@dataclass(frozen=True)
class ClosedFile:
    """A binary-log file a node has closed, as its server describes it."""

    name: str
    start_seq: int  # the sequence reached before its first transaction
    end_seq: int  # the sequence of its last transaction (== start_seq when it has none)


@dataclass(frozen=True)
class Segment:
    """One archived binary-log file."""

    node: str
    file: str
    start_seq: int
    end_seq: int
    end_gtid: str
    first_time: datetime | None  # of its first transaction; None when it has none
    last_time: datetime | None
    covers_until: datetime  # every commit before this moment is in it or before it
    stored: str  # path inside the pair's repository
    sha256: str
    size: int  # bytes of the binary log
    stored_size: int  # bytes in the repository (compressed, encrypted)
    archived_at: datetime


@dataclass(frozen=True)
class BaseBackup:
    label: str
    node: str
    started: datetime
    stopped: datetime
    gtid: str  # the position it is consistent at
    seq: int
    stored: str
    sha256: str
    size: int  # bytes of the server's files
    stored_size: int


@dataclass(frozen=True)
class ToArchive:
    files: list[str]
    broken: bool  # the first one does not continue the chain: a full backup must restart it


def to_archive(closed: Sequence[ClosedFile], chain_end: int | None) -> ToArchive:
    """The primary's closed files (oldest first) holding transactions the archive lacks."""
    wanted = [
        f
        for f in closed
        if f.end_seq > f.start_seq and (chain_end is None or f.end_seq > chain_end)
    ]
    broken = bool(wanted) and chain_end is not None and wanted[0].start_seq > chain_end
    return ToArchive([f.name for f in wanted], broken)


def chain_end(segments: Iterable[Segment]) -> int | None:
    return max((s.end_seq for s in segments), default=None)


@dataclass(frozen=True)
class Step:
    segment: Segment
    after: str  # replay only the transactions after this GTID


@dataclass(frozen=True)
class RestorePlan:
    backup: BaseBackup
    steps: list[Step]
    reaches: datetime  # the archive holds every commit before this moment
    target: datetime

    @property
    def complete(self) -> bool:
        return self.reaches >= self.target


class PlanError(ValueError):
    """No restore can reach the moment asked for; the message says why and what can."""


def plan_restore(
    backups: Sequence[BaseBackup], segments: Sequence[Segment], target: datetime
) -> RestorePlan:
    """The newest backup that ended before ``target`` and the archived files that carry it
    forward, up to the first that reaches past ``target``."""
    usable = [b for b in backups if b.stopped <= target]
    if not usable:
        if not backups:
            raise PlanError("there is no backup of this pair yet")
        first = min(b.stopped for b in backups)
        raise PlanError(
            f"no backup ended before {target:%Y-%m-%d %H:%M:%S %Z}; "
            f"the earliest moment a restore can reach is {first:%Y-%m-%d %H:%M:%S %Z}"
        )
    backup = max(usable, key=lambda b: (b.stopped, b.seq))
    position, after = backup.seq, backup.gtid
    reaches = backup.stopped
    steps: list[Step] = []
    # Position only grows, so the files that start at or before it only accumulate: the
    # best of them (furthest end, then newest) is the one to follow, if it goes further.
    # One pass over the files sorted by start: a week of them restores in milliseconds.
    ordered = sorted(segments, key=lambda s: s.start_seq)
    seen = 0
    best: Segment | None = None
    while reaches < target:
        while seen < len(ordered) and ordered[seen].start_seq <= position:
            candidate = ordered[seen]
            if best is None or (candidate.end_seq, candidate.archived_at) > (
                best.end_seq,
                best.archived_at,
            ):
                best = candidate
            seen += 1
        if best is None or best.end_seq <= position:
            break
        # After a failover the newest copy of that history wins: the new primary's.
        steps.append(Step(best, after))
        position, after = best.end_seq, best.end_gtid
        reaches = max(reaches, best.covers_until)
    return RestorePlan(backup, steps, reaches, target)


# A restored copy adopted as the pair goes on from the next whole million past the old
# history: easy to tell apart for a person reading binary logs.
HISTORY_STEP = 1_000_000


def new_history_after(highest: int) -> int:
    """Where a restored copy adopted as the pair numbers its transactions from (its
    first is this + 1): past every sequence the old history used (``highest``), so no
    file of the old history ever continues the new one's chain or the other way round,
    and the archiver sees a broken chain and starts it again with a full copy."""
    return (highest // HISTORY_STEP + 1) * HISTORY_STEP


def window(
    backups: Sequence[BaseBackup], segments: Sequence[Segment]
) -> tuple[datetime, datetime] | None:
    """From when to when a restore can reach: the end of the oldest backup to where the
    chain from the newest backup stops."""
    if not backups:
        return None
    far = datetime.max.replace(tzinfo=UTC)
    return min(b.stopped for b in backups), plan_restore(backups, segments, far).reaches


def purgeable(
    files: Sequence[ClosedFile],
    segments: Sequence[Segment],
    backups: Sequence[BaseBackup],
    now: datetime,
    keep_for: timedelta,
) -> str | None:
    """The file a node's ``PURGE BINARY LOGS TO`` may name: every file before it holds
    only archived transactions older than ``keep_for`` (which lets a replica that was
    away catch up without a fresh copy). None: nothing to delete."""
    end = chain_end(segments)
    oldest_backup = min((b.seq for b in backups), default=None)
    upto: str | None = None
    for index, file in enumerate(files[:-1]):  # the newest file always stays
        if end is None or file.end_seq > end:
            break
        covering = [s for s in segments if s.start_seq < file.end_seq <= s.end_seq]
        times = [s.last_time for s in covering if s.last_time is not None]
        if times:
            if now - min(times) < keep_for:
                break
        elif not (oldest_backup is not None and file.end_seq <= oldest_backup):
            # Older than the archive and not yet behind every backup: keep it.
            break
        upto = files[index + 1].name
    return upto


def expired(
    backups: Sequence[BaseBackup], segments: Sequence[Segment], keep: int
) -> tuple[list[BaseBackup], list[Segment]]:
    """What the retention drops: all but the ``keep`` newest backups, and the archived
    files no kept backup needs (everything before the oldest kept one's position)."""
    ordered = sorted(backups, key=lambda b: (b.stopped, b.seq))
    dropped = ordered[:-keep] if keep > 0 and len(ordered) > keep else []
    kept = ordered[len(dropped) :]
    if not dropped or not kept:
        return dropped, []
    oldest = kept[0].seq
    return dropped, [s for s in segments if s.end_seq <= oldest]


_TRANSACTION = re.compile(
    r"^#(\d{6})\s+(\d{1,2}:\d{2}:\d{2})\s+server id \d+\s+end_log_pos \d+"
    r".*\bGTID (\d+)-(\d+)-(\d+)"
)


@dataclass(frozen=True)
class Transactions:
    first: tuple[datetime, str] | None
    last: tuple[datetime, str] | None


def transactions_in(lines: Iterable[str], domain: int = DOMAIN) -> Transactions:
    """The first and last transaction (time, GTID) of ``mariadb-binlog``'s text for one
    file, printed with TZ=UTC. Event times are whole seconds."""
    first: tuple[datetime, str] | None = None
    last: tuple[datetime, str] | None = None
    for line in lines:
        if not line.startswith("#"):
            continue
        match = _TRANSACTION.match(line)
        if match is None or int(match[3]) != domain:
            continue
        day, clock = match[1], match[2]
        moment = datetime.strptime(f"{day} {clock.zfill(8)}", "%y%m%d %H:%M:%S").replace(tzinfo=UTC)
        found = (moment, f"{match[3]}-{match[4]}-{match[5]}")
        if first is None:
            first = found
        last = found
    return Transactions(first, last)
