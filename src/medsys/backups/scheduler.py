"""The backup scheduler: ``python -m medsys.backups.scheduler``, supervised like the
monitors and running as the service user (it reads the servers' data folders).

Every half minute it makes sure the repository knows the admin cluster, takes the backup
the schedule says is due (``schedule.due``) and publishes on ``/metrics`` (port
``backups``) when the last backup of each kind succeeded, its size, the recovery window
and whether the last attempt failed, for the SLA alerts and ``medsys status``.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time

from prometheus_client import CollectorRegistry, Gauge

from medsys.backups.schedule import Schedule, due, schedule_from
from medsys.core.logs import configure_logging
from medsys.core.scrape import serve_metrics_in_background
from medsys.core.secrets import load_secrets
from medsys.core.settings import Settings, load_settings
from medsys.nodes import pgbackrest
from medsys.nodes.base import NodeError, one_line

log = logging.getLogger("medsys.backups")
CHECK_EVERY = 30.0
PAIR = "admin"


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
        self.overdue_after.labels(PAIR).set(schedule.overdue_after)
        self.failed.labels(PAIR).set(0)


def cycle(settings: Settings, schedule: Schedule, metrics: BackupMetrics) -> None:
    pgbackrest.ensure_stanza(settings)
    catalogue = pgbackrest.catalogue(settings)
    fulls = [b.stopped.timestamp() for b in catalogue.backups if b.kind == "full"]
    every = [b.stopped.timestamp() for b in catalogue.backups]
    kind = due(schedule, max(fulls, default=None), max(every, default=None), time.time())
    if kind is not None:
        log.info("taking a %s backup of the %s pair", kind, PAIR)
        taken = pgbackrest.take(settings, kind)
        log.info("%s backup %s: %d bytes stored", kind, taken.label, taken.stored)
        catalogue = pgbackrest.catalogue(settings)
    for backup in catalogue.backups:
        metrics.last_success.labels(PAIR, backup.kind).set(backup.stopped.timestamp())
    if catalogue.last is not None:
        metrics.size.labels(PAIR).set(catalogue.last.stored)
    if catalogue.restorable_from is not None:
        metrics.window_start.labels(PAIR).set(catalogue.restorable_from.timestamp())


def main(argv: list[str]) -> int:
    configure_logging()
    if len(argv) > 1:
        print("usage: python -m medsys.backups.scheduler", file=sys.stderr)
        return 2
    settings = load_settings()
    schedule = schedule_from()
    pgbackrest.write_config(settings, load_secrets(settings))
    metrics = BackupMetrics(schedule)
    serve_metrics_in_background(metrics.registry, settings.bind_address, settings.port("backups"))
    log.info(
        "backup scheduler: full every %.1f h, differential every %.1f h, %d full kept",
        schedule.full_every / 3600,
        schedule.diff_every / 3600,
        schedule.full_kept,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.is_set():
        try:
            cycle(settings, schedule, metrics)
            metrics.failed.labels(PAIR).set(0)
        except (NodeError, OSError, ValueError) as error:
            metrics.failed.labels(PAIR).set(1)
            log.warning("backup of the %s pair not taken: %s", PAIR, one_line(error))
        stop.wait(CHECK_EVERY)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
