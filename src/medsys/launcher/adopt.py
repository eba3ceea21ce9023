"""A restored copy becomes the pair itself (``medsys restore PAIR --adopt DIR``).

A restore first goes into a folder of its own, served beside the running pair, so people
can look at it before deciding. When they decide the pair must go back to that moment
(a bad migration, an encrypted disk), this swaps it in: the pair's monitor, the backup
scheduler and both nodes stop; both nodes' data folders are moved aside, never deleted;
the copy becomes the recorded primary's data, set apart from the old history; the pair
comes up as on a fresh install (the other node copied from the new primary); and a full
backup starts the new history in the archive at once.

The applications are left running: while this runs (seconds) they answer writes to this
pair with 503, as during a failover, and find the new primary by themselves.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pymysql

from medsys.backups import mariabackup
from medsys.backups.chain import chain_end, new_history_after, sequence_of
from medsys.core.secrets import Secrets, ensure_secrets
from medsys.core.settings import Settings
from medsys.core.topology import Engine, Pair, pair_named
from medsys.launcher.cluster import Cluster, LaunchError
from medsys.nodes import pgbackrest
from medsys.nodes.base import REPLACED, NodeError, give_to_service_user
from medsys.nodes.postgres import postgres_bin
from medsys.pairs.state import append_event, read_pair_state, write_pair_state

MANIFEST = "restore.json"
BACKUP_SCHEDULER = "backups"


def manifest_path(folder: Path) -> Path:
    return folder.parent / f"{folder.name}.run" / MANIFEST


def write_manifest(folder: Path, pair: str, target: datetime, port: int) -> None:
    """What ``--adopt`` checks before it swaps anything: which pair this copy is of."""
    manifest_path(folder).write_text(
        json.dumps({"pair": pair, "target": target.isoformat(), "port": port}) + "\n"
    )


def read_manifest(folder: Path) -> dict[str, Any]:
    path = manifest_path(folder)
    try:
        found: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        raise LaunchError(
            f"{folder} is not a restored copy medsys made (no {path}); "
            "restore one first: medsys restore PAIR --to TIME",
            exit_code=2,
        ) from None
    return found


def stop_restored(settings: Settings, pair: Pair, folder: Path) -> None:
    if pair.engine is Engine.POSTGRES:
        pgbackrest.stop_restored(settings, folder, postgres_bin("postgres"))
    else:
        mariabackup.stop_restored(folder)


def _archive_tail(settings: Settings, secrets: Secrets, pair: str) -> tuple[int, str]:
    """The old primary's last transactions into the archive (when it still answers), then
    the highest sequence the archive holds, and what became of the tail."""
    backups = mariabackup.PairBackups(settings, secrets, pair)
    try:
        backups.archive(rotate_now=True)
        tail = "the old primary's last binary log archived"
    except (NodeError, OSError, pymysql.MySQLError) as error:
        tail = f"the old primary's last binary log could not be archived ({error})"
    found = backups.catalogue()
    return max([chain_end(found.segments) or 0, *(b.seq for b in found.backups)]), tail


def _highest_sequence(cluster: Cluster, pair: Pair, secrets: Secrets) -> tuple[int, str]:
    archived, tail = mariabackup.call_as_service_user(
        cluster.settings, _archive_tail, cluster.settings, secrets, pair.name
    )
    adapter = cluster.adapter(pair)
    live = [sequence_of(adapter.probe(node).position or "") or 0 for node in pair.nodes]
    return max([archived, *live]), tail


def adopt(cluster: Cluster, pair_name: str, folder: Path) -> list[str]:
    """Swap the restored copy in ``folder`` in as ``pair_name``; returns what was done."""
    settings = cluster.settings
    pair = pair_named(pair_name)
    manifest = read_manifest(folder)
    if manifest.get("pair") != pair.name:
        raise LaunchError(
            f"{folder} is a copy of the {manifest.get('pair')} pair, not of {pair.name}",
            exit_code=2,
        )
    state = read_pair_state(settings, pair)
    if state is None or not state.bootstrapped:
        raise LaunchError(f"the {pair.name} pair was never brought up here", exit_code=2)
    cluster.require_supervisor()
    secrets = ensure_secrets(settings)
    adapter = cluster.adapter(pair)
    primary = state.primary
    done: list[str] = []

    history_after = 0
    if pair.engine is not Engine.POSTGRES:
        highest, tail = _highest_sequence(cluster, pair, secrets)
        history_after = new_history_after(highest)
        done.append(tail)

    for name in (pair.monitor, BACKUP_SCHEDULER, *pair.nodes):
        cluster.supervisor.stop(name)
    stop_restored(settings, pair, folder)
    done.append(f"stopped {pair.monitor}, the backup scheduler, {' and '.join(pair.nodes)}")

    stamp = time.strftime("%Y%m%dT%H%M%S")
    for node in pair.nodes:
        data = adapter.data_dir(node)
        if data.exists():
            kept = data.with_name(f"{data.name}{REPLACED}{stamp}")
            data.rename(kept)
            done.append(f"{node}'s data moved aside to {kept} (kept, not deleted)")
    target = adapter.data_dir(primary)
    shutil.move(str(folder), str(target))
    give_to_service_user(settings, target, *target.rglob("*"))
    try:
        done.append(adapter.adopt_restored(primary, history_after=history_after))
    except NodeError as error:
        raise LaunchError(f"{error}; the old data is kept beside it (*{REPLACED}{stamp})") from None

    new_state = replace(
        state,
        term=state.term + 1,
        bootstrapped=False,  # up copies the other node afresh and attaches it
        replica_in_sync=False,
        synchronous_position=None,
        promotion_pending=False,
        failover_acknowledged=True,
    )
    write_pair_state(settings, pair, new_state)
    append_event(
        settings,
        pair,
        "restored",
        f"{pair.name} restored to {manifest.get('target')} and adopted as the pair; "
        f"{primary} primary in term {new_state.term}; old data kept (*{REPLACED}{stamp})",
        new_state.term,
    )
    cluster.pair_up(pair, secrets)
    done.append(f"{pair.other(primary)} copied afresh from {primary} and replicating")
    cluster.supervisor.start(pair.monitor)
    # The scheduler would start a new chain too: this copy first, then the scheduler.
    if pair.engine is Engine.POSTGRES:
        label = pgbackrest.take(settings, "full").label
    else:
        copy = mariabackup.call_as_service_user(
            settings, mariabackup.take_full, settings, secrets, pair.name
        )
        label = copy.label
    done.append(f"full backup {label} starts the new history in the archive")
    cluster.supervisor.start(BACKUP_SCHEDULER)
    return done
