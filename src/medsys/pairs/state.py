"""The persisted state of a pair: which node is primary and in which term.

Written atomically (write, fsync, rename) so a monitor or launcher that dies mid-write leaves
either the old state or the new one. Node boot reads it: only the recorded primary may boot
writable, which is what keeps a returning old primary from becoming a second writer.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, TextIO

from medsys.core.settings import Settings
from medsys.core.topology import Pair


class PairStateError(RuntimeError):
    pass


@dataclass(frozen=True)
class PairState:
    pair: str
    primary: str
    term: int = 1
    bootstrapped: bool = False
    last_failover_at: float | None = None  # wall clock, for the anti-flapping window
    failover_acknowledged: bool = True
    # The replica had every acknowledged commit at last sight (sync replication active):
    # persisted so that a monitor restarted after the primary died can still decide.
    replica_in_sync: bool = False
    # The last position the replica was seen to hold while commits waited for it (a lower
    # bound of every acknowledged commit up to then): a candidate must hold at least this.
    synchronous_position: str | None = None
    # Written before the promotion starts, cleared once the node takes writes: a monitor
    # that dies in between finishes this promotion instead of starting another.
    promotion_pending: bool = False

    def promoted(self, node: str, at: float) -> PairState:
        return replace(
            self,
            primary=node,
            term=self.term + 1,
            last_failover_at=at,
            failover_acknowledged=False,
            replica_in_sync=False,
            synchronous_position=None,
            promotion_pending=True,
        )


def state_path(settings: Settings, pair: Pair) -> Path:
    return settings.cluster_dir / f"{pair.name}.json"


def read_pair_state(settings: Settings, pair: Pair) -> PairState | None:
    path = state_path(settings, pair)
    if not path.exists():
        return None
    try:
        state = PairState(**json.loads(path.read_text()))
    except (ValueError, TypeError) as error:
        raise PairStateError(f"{path} is damaged ({error}); fix or restore it by hand") from None
    if state.primary not in pair.nodes:
        raise PairStateError(f"{path} names {state.primary!r}, not a node of {pair.name}")
    return state


def write_pair_state(settings: Settings, pair: Pair, state: PairState) -> None:
    path = state_path(settings, pair)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    with temporary.open("w") as handle:
        json.dump(asdict(state), handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    path.chmod(0o644)


def _open_shared(path: Path) -> TextIO:
    """Open for appending a file both root (the launcher) and the monitors (the service
    user, who owns the folder) append to: made by root, it is given to the folder's owner."""
    handle = path.open("a")
    if os.geteuid() == 0:
        folder = path.parent.stat()
        os.fchown(handle.fileno(), folder.st_uid, folder.st_gid)
    return handle


@contextmanager
def _locked(settings: Settings, pair: Pair) -> Iterator[None]:
    settings.cluster_dir.mkdir(parents=True, exist_ok=True)
    with _open_shared(settings.cluster_dir / f"{pair.name}.lock") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def replace_pair_state(
    settings: Settings, pair: Pair, expected: PairState | None, new: PairState
) -> bool:
    """Write ``new`` only if the file still holds ``expected`` (compare-and-swap), so a
    monitor acting on what it read a moment ago never undoes an operator's change."""
    with _locked(settings, pair):
        if read_pair_state(settings, pair) != expected:
            return False
        write_pair_state(settings, pair, new)
        return True


def update_pair_state(
    settings: Settings, pair: Pair, change: Callable[[PairState], PairState]
) -> PairState:
    """Read, change and write under the lock (for operators' commands)."""
    with _locked(settings, pair):
        current = read_pair_state(settings, pair)
        if current is None:
            raise PairStateError(f"the {pair.name} pair has no state yet; run `medsys up`")
        new = change(current)
        write_pair_state(settings, pair, new)
        return new


def events_path(settings: Settings, pair: Pair) -> Path:
    return settings.cluster_dir / f"{pair.name}.events.jsonl"


def append_event(settings: Settings, pair: Pair, event: str, sentence: str, term: int) -> None:
    """The failure register: one JSON line per event, with its UTC time."""
    now = time.time()
    record = {
        "at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z",
        "time": now,
        "pair": pair.name,
        "event": event,
        "term": term,
        "sentence": sentence,
    }
    # A monitor may start before anything else wrote here (a fresh volume in containers).
    settings.cluster_dir.mkdir(parents=True, exist_ok=True)
    with _open_shared(events_path(settings, pair)) as handle:
        handle.write(json.dumps(record) + "\n")


def read_events(settings: Settings, pair: Pair, since: float = 0.0) -> list[dict[str, Any]]:
    path = events_path(settings, pair)
    if not path.exists():
        return []
    events = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut by a crash mid-write
        if record.get("time", 0) >= since:
            events.append(record)
    return events


def monitor_status_path(settings: Settings, pair: Pair) -> Path:
    return settings.cluster_dir / f"{pair.name}.monitor.json"


def write_monitor_status(settings: Settings, pair: Pair, status: dict[str, Any]) -> None:
    path = monitor_status_path(settings, pair)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(status))
    temporary.replace(path)


def read_monitor_status(settings: Settings, pair: Pair) -> dict[str, Any] | None:
    try:
        loaded: dict[str, Any] = json.loads(monitor_status_path(settings, pair).read_text())
    except (OSError, ValueError):
        return None
    return loaded
