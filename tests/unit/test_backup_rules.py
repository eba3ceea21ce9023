"""When backups are due, and what pgBackRest is told and says (no server needed)."""

from __future__ import annotations

import json

import pytest

from medsys.backups.schedule import Schedule, due, schedule_from
from medsys.core.settings import load_settings
from medsys.nodes import pgbackrest

HOUR = 3600.0
SETTINGS = load_settings({"MEDSYS_STATE_DIR": "/srv/m", "MEDSYS_PORT_OFFSET": "100"})


def test_a_full_backup_first_then_differentials_until_the_next_full() -> None:
    plan = Schedule(full_every=24 * HOUR, diff_every=HOUR)
    assert due(plan, None, None, now=0) == "full"
    assert due(plan, 0, 0, now=HOUR / 2) is None
    assert due(plan, 0, 0, now=HOUR) == "diff"
    assert due(plan, 0, 23 * HOUR, now=23.5 * HOUR) is None
    assert due(plan, 0, 23.5 * HOUR, now=24 * HOUR) == "full"
    assert plan.overdue_after == 2 * HOUR


def test_the_schedule_is_read_in_hours_and_refused_when_it_makes_no_sense() -> None:
    plan = schedule_from({"MEDSYS_BACKUP_FULL_EVERY": "168", "MEDSYS_BACKUP_DIFF_EVERY": "0.5"})
    assert (plan.full_every, plan.diff_every, plan.full_kept) == (168 * HOUR, HOUR / 2, 7)
    for wrong in ({"MEDSYS_BACKUP_DIFF_EVERY": "soon"}, {"MEDSYS_BACKUP_FULL_EVERY": "0"},
                  {"MEDSYS_BACKUP_KEEP_FULL": "0"}, {"MEDSYS_BACKUP_KEEP_FULL": "-2"}):  # fmt: skip
        with pytest.raises(ValueError, match="MEDSYS_BACKUP_"):
            schedule_from(wrong)


def test_the_stanza_names_both_nodes_the_encrypted_repository_and_no_more() -> None:
    text = pgbackrest.render_config(SETTINGS, "k" * 32)
    assert "repo1-path=/srv/m/backups/postgres" in text
    assert "repo1-cipher-type=aes-256-cbc" in text and f"repo1-cipher-pass={'k' * 32}" in text
    assert "pg1-path=/srv/m/data/postgres_primary" in text
    assert f"pg2-port={SETTINGS.port('postgres_replica')}" in text
    assert "backup-standby=y" in text
    # A node's own file lists itself first: in a container it is the only one there.
    own = pgbackrest.render_config(SETTINGS, "k" * 32, first="postgres_replica")
    assert "pg1-path=/srv/m/data/postgres_replica" in own
    archive = pgbackrest.archive_settings(SETTINGS, "postgres_replica")
    assert archive["archive_mode"] == "on" and archive["archive_timeout"] == "60"
    assert (
        "pgbackrest-postgres_replica.conf --stanza=admin archive-push %p"
        in (archive["archive_command"])
    )


def test_the_catalogue_is_read_from_pgbackrest_info() -> None:
    info = [
        {
            "name": "admin",
            "archive": [{"min": "000000010000000000000001", "max": "00000002000000000000000A"}],
            "backup": [
                {
                    "label": "20261204-120000F_20261204-130000D",
                    "type": "diff",
                    "timestamp": {"start": 1796389200, "stop": 1796389210},
                    "info": {"size": 4000, "repository": {"delta": 100}},
                },
                {
                    "label": "20261204-120000F",
                    "type": "full",
                    "timestamp": {"start": 1796385600, "stop": 1796385660},
                    "info": {"size": 4000, "repository": {"delta": 900}},
                },
            ],
        }
    ]
    found = pgbackrest.parse_info(json.dumps(info))
    assert [b.kind for b in found.backups] == ["full", "diff"]  # oldest first
    assert found.last is not None and found.last.stored == 100
    assert found.restorable_from is not None and found.restorable_from.timestamp() == 1796385660
    assert found.archive_max == "00000002000000000000000A"
    assert pgbackrest.parse_info("[]").last is None
