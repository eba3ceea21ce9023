"""The backup scheduler: ``python -m medsys.backups.scheduler``, supervised like the
monitors and running as the service user (it reads the servers' data folders).

One thread per pair. The admin pair (pgBackRest): every half minute it makes sure the
repository knows the cluster and takes the backup the schedule says is due
(``schedule.due``); PostgreSQL archives its WAL itself. The clinical and portal pairs
(``backups.mariabackup``): every few seconds it closes and archives the primary's binary
log when due, takes a full copy when due or when the chain of archived logs broke, and
purges what is archived. Each publishes on ``/metrics`` (port ``backups``) when its last
backup of each kind succeeded, its size, the recovery window and whether the last
attempt failed, for the SLA alerts and ``medsys status``.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

import pymysql
from prometheus_client import CollectorRegistry, Gauge

from medsys.backups import mariabackup
from medsys.backups.schedule import Schedule, due, schedule_from
from medsys.core.logs import configure_logging
from medsys.core.scrape import serve_metrics_in_background
from medsys.core.secrets import Secrets, load_secrets
from medsys.core.settings import Settings, load_settings
from medsys.nodes import pgbackrest
from medsys.nodes.base import NodeError, one_line

log = logging.getLogger("medsys.backups")
CHECK_EVERY = 30.0
PAIRS = ("admin", *mariabackup.PAIRS)


class BackupMetrics:
    def __init__(self, schedule: Schedule) -> None:
        self.registry = CollectorRegistry()
        self.last_success = Gauge(
            "medsys_backup_last_success_timestamp_seconds",
            "When the last good backup of this kind ended",
            ["pair", "kind"],
            registry=self.registry,
        )
        self.size = Gauge(
            "medsys_backup_last_size_bytes",
            "Bytes the last backup added to the repository",
            ["pair"],
            registry=self.registry,
        )
        self.window_start = Gauge(
            "medsys_backup_recoverable_from_timestamp_seconds",
            "The earliest moment a restore can reach",
            ["pair"],
            registry=self.registry,
        )
        self.failed = Gauge(
            "medsys_backup_last_attempt_failed",
            "1 when the last backup attempt failed",
            ["pair"],
            registry=self.registry,
        )
        self.overdue_after = Gauge(
            "medsys_backup_overdue_after_seconds",
            "A backup older than this breaks the schedule",
            ["pair"],
            registry=self.registry,
        )
        self.archived_until = Gauge(
            "medsys_backup_archived_until_timestamp_seconds",
            "Every commit before this moment is in the archive (binary-log pairs)",
            ["pair"],
            registry=self.registry,
        )
        self.overdue_after.labels("admin").set(schedule.overdue_after)
        for pair in mariabackup.PAIRS:
            # Their archived binary logs stand for differentials: only full copies count.
            self.overdue_after.labels(pair).set(2 * schedule.full_every)
        for pair in PAIRS:
            self.failed.labels(pair).set(0)


def cycle(settings: Settings, schedule: Schedule, metrics: BackupMetrics) -> None:
    """The admin pair's turn."""
    pgbackrest.ensure_stanza(settings)
    catalogue = pgbackrest.catalogue(settings)
    fulls = [b.stopped.timestamp() for b in catalogue.backups if b.kind == "full"]
    every = [b.stopped.timestamp() for b in catalogue.backups]
    kind = due(schedule, max(fulls, default=None), max(every, default=None), time.time())
    if kind is not None:
        log.info("taking a %s backup of the %s pair", kind, "admin")
        taken = pgbackrest.take(settings, kind)
        log.info("%s backup %s: %d bytes stored", kind, taken.label, taken.stored)
        catalogue = pgbackrest.catalogue(settings)
    for backup in catalogue.backups:
        metrics.last_success.labels("admin", backup.kind).set(backup.stopped.timestamp())
    if catalogue.last is not None:
        metrics.size.labels("admin").set(catalogue.last.stored)
    if catalogue.restorable_from is not None:
        metrics.window_start.labels("admin").set(catalogue.restorable_from.timestamp())


def binlog_cycle(
    backups: mariabackup.PairBackups, schedule: Schedule, metrics: BackupMetrics
) -> None:
    """A clinical or portal pair's turn."""
    pair = backups.pair
    archived, broken = backups.archive()
    if archived:
        log.info("%s: %d binary logs archived", pair, len(archived))
    fulls = [b.stopped.timestamp() for b in backups.catalogue().backups]
    last_full = max(fulls, default=None)
    if broken or last_full is None or time.time() - last_full >= schedule.full_every:
        why = "the archive's chain broke" if broken else "due"
        log.info("taking a full copy of the %s pair (%s)", pair, why)
        taken = backups.take_full()
        log.info("%s copy %s: %d bytes stored", pair, taken.label, taken.stored_size)
    found = backups.catalogue()
    if found.last is not None:
        metrics.last_success.labels(pair, "full").set(found.last.stopped.timestamp())
        metrics.size.labels(pair).set(found.last.stored_size)
    if found.restorable_from is not None:
        metrics.window_start.labels(pair).set(found.restorable_from.timestamp())
    if found.archived_until is not None:
        metrics.archived_until.labels(pair).set(found.archived_until.timestamp())


def _keep(
    pair: str,
    turn: Callable[[], None],
    every: float,
    metrics: BackupMetrics,
    stop: threading.Event,
) -> None:
    while not stop.is_set():
        try:
            turn()
            metrics.failed.labels(pair).set(0)
        except (NodeError, OSError, ValueError, pymysql.MySQLError) as error:
            metrics.failed.labels(pair).set(1)
            log.warning("backup of the %s pair not taken: %s", pair, one_line(error))
        except Exception:
            # A keeper outlives any one failure (a tool that hung past its timeout, say):
            # a dead thread would stop that pair's backups without a word.
            metrics.failed.labels(pair).set(1)
            log.exception("backup of the %s pair not taken", pair)
        stop.wait(every)


def _turns(
    settings: Settings, secrets: Secrets, schedule: Schedule, metrics: BackupMetrics
) -> dict[str, tuple[Callable[[], None], float]]:
    turns: dict[str, tuple[Callable[[], None], float]] = {
        "admin": (lambda: cycle(settings, schedule, metrics), CHECK_EVERY)
    }
    every = max(1.0, min(CHECK_EVERY, mariabackup.archive_every() / 4))
    for pair in mariabackup.PAIRS:
        backups = mariabackup.PairBackups(settings, secrets, pair)
        turns[pair] = (functools.partial(binlog_cycle, backups, schedule, metrics), every)
    return turns


def main(argv: list[str]) -> int:
    configure_logging()
    if len(argv) > 1:
        print("usage: python -m medsys.backups.scheduler", file=sys.stderr)
        return 2
    # Background work: copies, compression and encryption yield the CPU to the services
    # (and every tool it runs inherits this).
    os.nice(10)
    settings = load_settings()
    schedule = schedule_from()
    secrets = load_secrets(settings)
    pgbackrest.write_config(settings, secrets)
    metrics = BackupMetrics(schedule)
    serve_metrics_in_background(metrics.registry, settings.bind_address, settings.port("backups"))
    log.info(
        "backup scheduler: full every %.1f h, differential (admin) every %.1f h, %d full "
        "kept, binary logs (clinical, portal) archived every %.0f s",
        schedule.full_every / 3600,
        schedule.diff_every / 3600,
        schedule.full_kept,
        mariabackup.archive_every(),
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    keepers = [
        threading.Thread(
            target=_keep, args=(pair, turn, every, metrics, stop), name=f"backups-{pair}"
        )
        for pair, (turn, every) in _turns(settings, secrets, schedule, metrics).items()
    ]
    for keeper in keepers:
        keeper.start()
    for keeper in keepers:
        keeper.join()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
