"""When a backup is due (pure): a full one every ``full_every`` seconds, a differential
(what changed since the last full) every ``diff_every`` in between. WAL archiving runs
continuously beside them; backups bound how much WAL a restore must replay."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    full_every: float = 24 * 3600.0
    diff_every: float = 3600.0
    full_kept: int = 7

    @property
    def overdue_after(self) -> float:
        """A backup older than this means the schedule is not kept (an alert)."""
        return 2 * min(self.full_every, self.diff_every)


def due(
    schedule: Schedule, last_full: float | None, last_any: float | None, now: float
) -> str | None:
    if last_full is None or now - last_full >= schedule.full_every:
        return "full"
    if last_any is None or now - last_any >= schedule.diff_every:
        return "diff"
    return None


def _hours(environ: Mapping[str, str], name: str, default: float) -> float:
    text = environ.get(name, "")
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number of hours, got {text!r}") from None
    if not 0 < value <= 24 * 366:
        raise ValueError(f"{name} must be between 0 and a year of hours, got {text!r}")
    return value * 3600


def schedule_from(environ: Mapping[str, str] | None = None) -> Schedule:
    """MEDSYS_BACKUP_FULL_EVERY and MEDSYS_BACKUP_DIFF_EVERY (hours), MEDSYS_BACKUP_KEEP_FULL."""
    environ = os.environ if environ is None else environ
    kept_text = environ.get("MEDSYS_BACKUP_KEEP_FULL", "") or "7"
    if not kept_text.isdigit() or not 1 <= int(kept_text) <= 1000:
        raise ValueError(f"MEDSYS_BACKUP_KEEP_FULL must be a count from 1, got {kept_text!r}")
    return Schedule(
        full_every=_hours(environ, "MEDSYS_BACKUP_FULL_EVERY", 24 * 3600.0),
        diff_every=_hours(environ, "MEDSYS_BACKUP_DIFF_EVERY", 3600.0),
        full_kept=int(kept_text),
    )
