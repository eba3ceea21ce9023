"""``medsys bench backup``: what backups cost and give on a seeded clinic.

The clinical pair is seeded (once) with synthetic consultations, each with a diagnosis,
for synthetic patients (RUTs from 5,000,000 up, never a demo patient's). Then, in
``runs`` interleaved rounds: patients read their history on the portal for a quiet
window, then for the same window while a full copy of the clinical pair is taken; the
copy is restored into a scratch folder. Printed: copy time and size, restore time, the
portal's p50/p99 with and without a copy running (min/median/max over the rounds), and
the recovery point (how far the archive lagged behind the clock, sampled every second).
The benchmark's own copies and restores are deleted; the seed stays.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from medsys.backups import mariabackup
from medsys.chaos.bench import Crowd, _form_login
from medsys.chaos.http_load import percentile, spread
from medsys.chaos.lab import Lab
from medsys.core.databases import pair_database
from medsys.core.demo_logins import demo_password
from medsys.core.rut import check_digit
from medsys.nodes import pgbackrest
from medsys.nodes.postgres import postgres_bin

SEED_MARK = "bench-backup"  # consultations' created_by, invoices' coverage_text
BATCH = 5_000


def _synthetic_rut(number: int) -> str:
    """The synthetic patient of the ``number``-th seeded record: twenty records each,
    RUTs from 5,000,000 up (never a demo patient's), the same in both pairs."""
    body = 5_000_000 + number // 20
    return f"{body}-{check_digit(body)}"


def _seeded(owner: Any, count_sql: str) -> int:
    """How many seeded rows ``count_sql`` (with ``:m`` for the mark) finds."""
    return int(owner.read(lambda s: s.execute(text(count_sql), {"m": SEED_MARK}).scalar_one()))


Batch = Callable[[range], Callable[[Any], None]]  # row numbers -> what writes them


def _fill(
    lab: Lab,
    pair: str,
    count_sql: str,
    wanted: int,
    what: str,
    say: Callable[[str], None],
    batch_of: Callable[[Any], Batch],
) -> int:
    """Seeded rows on ``pair`` until ``wanted`` of them exist (counted by ``count_sql``),
    BATCH at a time, each batch one transaction of the schema's owner; how many exist.
    ``batch_of(owner)`` reads what every batch needs once and gives the batch writer."""
    owner = pair_database(lab.settings, pair, owner=True, failover_deadline=30)
    try:
        have = _seeded(owner, count_sql)
        write = batch_of(owner)
        started = time.monotonic()
        while have < wanted:
            numbers = range(have, min(have + BATCH, wanted))
            owner.write(write(numbers))
            have = numbers.stop
            say(f"  seeded {have:,} {what} ({time.monotonic() - started:.0f} s)")
        return have
    finally:
        owner.dispose()


def seed(lab: Lab, consultations: int, say: Callable[[str], None]) -> int:
    """Synthetic consultations until ``consultations`` of them exist; how many exist."""

    def batch_of(owner: Any) -> Batch:
        doctor = int(
            owner.read(lambda s: s.execute(text("SELECT MIN(id) FROM staff")).scalar_one())
        )

        def batch(numbers: range) -> Callable[[Any], None]:
            now = datetime.now(UTC).replace(tzinfo=None)
            rows = [
                {
                    "rut": _synthetic_rut(number),
                    "doctor": doctor,
                    "at": now - timedelta(days=number % 3650),
                    "reason": f"Control sintético {number}",
                    "notes": "Paciente estable. " * 8,
                    "mark": SEED_MARK,
                    "now": now,
                }
                for number in numbers
            ]

            def insert(session: Any) -> None:
                session.execute(
                    text(
                        "INSERT INTO consultations (patient_rut, doctor_id, starts_at, reason, "
                        "notes, status, created_by, created_at, updated_at) VALUES (:rut, "
                        ":doctor, :at, :reason, :notes, 'finished', :mark, :now, :now)"
                    ),
                    rows,
                )
                session.execute(
                    text(
                        "INSERT INTO diagnoses (consultation_id, code, description, `rank`, "
                        "status, recorded_by, recorded_at) SELECT id, 'Z00.0', 'Examen "
                        "general', 'principal', 'confirmed', :mark, :now FROM consultations "
                        "c WHERE created_by = :mark AND NOT EXISTS (SELECT 1 FROM diagnoses "
                        "d WHERE d.consultation_id = c.id)"
                    ),
                    {"mark": SEED_MARK, "now": now},
                )

            return insert

        return batch

    return _fill(
        lab,
        "clinical",
        "SELECT COUNT(*) FROM consultations WHERE created_by = :m",
        consultations,
        "consultations",
        say,
        batch_of,
    )


def _portal_window(lab: Lab, seconds: float, users: int = 4, think: float = 0.2) -> list[float]:
    base = f"http://127.0.0.1:{lab.settings.port('app3')}"
    ruts = ["11111111-1", "22222222-2"]
    crowd = Crowd(users, seconds)
    seed_secret = lab.secrets.demo_seed

    def log_in(client: httpx.Client, number: int) -> bool:
        rut = ruts[number % 2]
        return _form_login(
            client, "/login", {"rut": rut, "password": demo_password(seed_secret, rut)}
        )

    def rounds(client: httpx.Client, number: int) -> None:
        pace = random.Random(number)
        while crowd.going():
            crowd.page(client, "history", "/history", "Diagnósticos")
            time.sleep(pace.uniform(0.5 * think, 1.5 * think))

    crowd.run(lambda _: base, log_in, rounds)
    return crowd.every()


def _while_patients_read(
    lab: Lab, window: float, work: Callable[[], Any]
) -> tuple[Any, float, list[float]]:
    """``work`` in a thread of its own while patients read their history for ``window``
    seconds: what it returned, how long it took, and every page's time."""
    taken: dict[str, Any] = {}

    def run() -> None:
        started = time.monotonic()
        taken["result"] = work()
        taken["seconds"] = time.monotonic() - started

    worker = threading.Thread(target=run)
    worker.start()
    pages = _portal_window(lab, window)
    worker.join()
    if "result" not in taken:
        raise RuntimeError("the backup taken during the portal window failed (see above)")
    return taken["result"], taken["seconds"], pages


@contextlib.contextmanager
def _scratch(pair: str) -> Iterator[Path]:
    """A folder for a restored copy of ``pair``, removed afterwards."""
    scratch = Path(tempfile.mkdtemp(prefix="medsys-bench-restore-", dir="/var/tmp"))
    scratch.chmod(0o755)
    try:
        yield scratch / pair
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _copy(lab: Lab) -> Any:
    backups = mariabackup.PairBackups(lab.settings, lab.secrets, "clinical")
    return backups.take_full(retain=False)


def _restore(lab: Lab, folder: Path, port: int) -> Any:
    backups = mariabackup.PairBackups(lab.settings, lab.secrets, "clinical")
    return backups.restore_into(folder, datetime.now(UTC), port)


def _forget(lab: Lab, label: str) -> None:
    mariabackup.PairBackups(lab.settings, lab.secrets, "clinical").forget(label)


def backup_figures(lab: Lab, consultations: int, runs: int, say: Callable[[str], None]) -> None:
    say(f"seeding the clinical pair to {consultations:,} synthetic consultations...")
    have = seed(lab, consultations, say)
    catalogue = mariabackup.PairBackups(lab.settings, lab.secrets, "clinical")
    lags: list[float] = []
    sampling = threading.Event()

    def sample_lag() -> None:
        while not sampling.wait(1.0):
            archived = catalogue.catalogue().archived_until
            if archived is not None:
                lags.append(time.time() - archived.timestamp())

    sampler = threading.Thread(target=sample_lag, daemon=True)
    sampler.start()
    copy_seconds, restore_seconds, stored, data = [], [], [], []
    quiet_p50, quiet_p99, busy_p50, busy_p99 = [], [], [], []
    window = 15.0
    port = 15399
    try:
        for run in range(1, runs + 1):
            quiet = _portal_window(lab, window)
            quiet_p50.append(percentile(quiet, 0.5))
            quiet_p99.append(percentile(quiet, 0.99))
            copy, seconds, busy = _while_patients_read(
                lab, window, lambda: mariabackup.call_as_service_user(lab.settings, _copy, lab)
            )
            busy_p50.append(percentile(busy, 0.5))
            busy_p99.append(percentile(busy, 0.99))
            copy_seconds.append(seconds)
            stored.append(copy.stored_size)
            data.append(copy.size)
            with _scratch("clinical") as folder:
                try:
                    mariabackup.restore_folders(lab.settings, folder)
                    started = time.monotonic()
                    mariabackup.call_as_service_user(lab.settings, _restore, lab, folder, port)
                    restore_seconds.append(time.monotonic() - started)
                finally:
                    mariabackup.stop_restored(folder)
                    mariabackup.call_as_service_user(lab.settings, _forget, lab, copy.label)
            say(
                f"  round {run}: copy {copy_seconds[-1]:.1f} s, restore "
                f"{restore_seconds[-1]:.1f} s; portal p99 {quiet_p99[-1] * 1000:.0f} ms quiet, "
                f"{busy_p99[-1] * 1000:.0f} ms during the copy"
            )
    finally:
        sampling.set()
    mib = 1 / 2**20
    say(f"clinical pair with {have:,} synthetic consultations (+ a diagnosis each), {runs} rounds:")
    say(f"  full copy (mariadb-backup from the replica): {spread(copy_seconds, 's')}")
    say(f"  server files {spread(data, 'MiB', mib)}; stored {spread(stored, 'MiB', mib)}")
    say(f"  restore (unpack, prepare, serve, replay the archive): {spread(restore_seconds, 's')}")
    say(f"  portal /history p50 quiet {spread(quiet_p50, 'ms', 1000)}")
    say(f"  portal /history p50 during a copy {spread(busy_p50, 'ms', 1000)}")
    say(f"  portal /history p99 quiet {spread(quiet_p99, 'ms', 1000)}")
    say(f"  portal /history p99 during a copy {spread(busy_p99, 'ms', 1000)}")
    if lags:
        say(
            f"  recovery point (clock minus what the archive holds, sampled each second): "
            f"{spread(lags, 's')} (bound: MEDSYS_BINLOG_ARCHIVE_SECONDS "
            f"{mariabackup.archive_every():.0f} s + a scheduler turn)"
        )


def seed_admin(lab: Lab, invoices: int, say: Callable[[str], None]) -> int:
    """Synthetic invoices (one line each) for synthetic patients, twenty per patient, the
    same RUTs as the clinical seed, until ``invoices`` of them exist; how many exist."""

    def batch(numbers: range) -> Callable[[Any], None]:
        now = datetime.now(UTC)
        ruts = sorted({_synthetic_rut(number) for number in numbers})
        patients = [
            {"rut": rut, "name": f"Paciente sintético {rut.partition('-')[0]}"} for rut in ruts
        ]
        rows = [
            {
                "number": f"BB-{number:09d}",
                "rut": _synthetic_rut(number),
                "mark": SEED_MARK,
                "at": now - timedelta(days=number % 3650),
            }
            for number in numbers
        ]

        def insert(session: Any) -> None:
            session.execute(
                text(
                    "INSERT INTO patients (rut, name, created_at, updated_at) VALUES "
                    "(:rut, :name, now(), now()) ON CONFLICT (rut) DO NOTHING"
                ),
                patients,
            )
            session.execute(
                text(
                    "INSERT INTO invoices (number, patient_rut, coverage_text, total, "
                    "insurer_share, copay, voided, issued_at) VALUES (:number, :rut, "
                    ":mark, 25000, 15000, 10000, false, :at)"
                ),
                rows,
            )
            session.execute(
                text(
                    "INSERT INTO invoice_lines (invoice_id, kind, description, amount, "
                    "insurer_share, copay) SELECT i.id, 'consultation', 'Consulta "
                    "sintética', 25000, 15000, 10000 FROM invoices i WHERE "
                    "i.coverage_text = :mark AND NOT EXISTS (SELECT 1 FROM invoice_lines "
                    "l WHERE l.invoice_id = i.id)"
                ),
                {"mark": SEED_MARK},
            )

        return insert

    return _fill(
        lab,
        "admin",
        "SELECT COUNT(*) FROM invoices WHERE coverage_text = :m",
        invoices,
        "invoices",
        say,
        lambda owner: batch,
    )


def admin_backup_figures(lab: Lab, invoices: int, runs: int, say: Callable[[str], None]) -> None:
    """The admin pair's figures, as ``backup_figures`` gives the clinical pair's: a full
    pgBackRest backup (from the replica) while patients read their history (whose admin
    leg reads this pair), then a restore to the backup's end into a scratch folder, served
    until it takes connections. The backups taken stay in the repository (they are real
    backups; the retention drops them)."""
    say(f"seeding the admin pair to {invoices:,} synthetic invoices...")
    have = seed_admin(lab, invoices, say)
    postgres = postgres_bin("postgres")
    copy_seconds, restore_seconds, stored, data = [], [], [], []
    quiet_p99, busy_p99 = [], []
    window = 15.0
    for run in range(1, runs + 1):
        quiet_p99.append(percentile(_portal_window(lab, window), 0.99))
        backup, seconds, busy = _while_patients_read(
            lab, window, lambda: pgbackrest.take(lab.settings, "full")
        )
        busy_p99.append(percentile(busy, 0.99))
        copy_seconds.append(seconds)
        stored.append(backup.stored)
        data.append(backup.size)
        with _scratch("admin") as folder:
            try:
                started = time.monotonic()
                pgbackrest.restore_into(lab.settings, folder, None)  # the backup just taken
                pgbackrest.serve_restored(lab.settings, folder, 15398, postgres)
                restore_seconds.append(time.monotonic() - started)
            finally:
                pgbackrest.stop_restored(lab.settings, folder, postgres)
        say(
            f"  round {run}: backup {copy_seconds[-1]:.1f} s, restore "
            f"{restore_seconds[-1]:.1f} s; portal p99 {quiet_p99[-1] * 1000:.0f} ms quiet, "
            f"{busy_p99[-1] * 1000:.0f} ms during the backup"
        )
    mib = 1 / 2**20
    say(f"admin pair with {have:,} synthetic invoices (+ a line each), {runs} rounds:")
    say(f"  full backup (pgBackRest, from the replica): {spread(copy_seconds, 's')}")
    say(f"  database {spread(data, 'MiB', mib)}; stored {spread(stored, 'MiB', mib)}")
    restored = spread(restore_seconds, "s")
    say(f"  restore (unpack, replay the WAL to the backup's end, serve): {restored}")
    say(f"  portal /history p99 quiet {spread(quiet_p99, 'ms', 1000)}")
    say(f"  portal /history p99 during a backup {spread(busy_p99, 'ms', 1000)}")
    say(
        f"  recovery point: at most archive_timeout ({pgbackrest.ARCHIVE_TIMEOUT_SECONDS} s) "
        "while the primary lives; with both nodes lost, the WAL segment not yet archived"
    )
