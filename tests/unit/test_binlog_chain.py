"""The binary-log archive's decisions (medsys.backups.chain): what to archive, when the
chain broke, which copy and files restore a moment, what a node and the retention may
delete."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from medsys.backups.chain import (
    BaseBackup,
    ClosedFile,
    PlanError,
    Segment,
    expired,
    gtid_at,
    new_history_after,
    plan_restore,
    purgeable,
    sequence_of,
    to_archive,
    transactions_in,
    window,
)

T0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def minute(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def segment(node: str, start: int, end: int, at: float, server: int = 1) -> Segment:
    return Segment(
        node=node,
        file=f"{node}-bin.{end:06d}",
        start_seq=start,
        end_seq=end,
        end_gtid=f"0-{server}-{end}",
        first_time=minute(at - 1),
        last_time=minute(at),
        covers_until=minute(at),
        stored=f"binlog/{node}/{end}",
        sha256="0" * 64,
        size=1,
        stored_size=1,
        archived_at=minute(at),
    )


def backup(seq: int, at: float) -> BaseBackup:
    return BaseBackup(
        label=f"b{seq}",
        node="a",
        started=minute(at - 0.1),
        stopped=minute(at),
        gtid=f"0-1-{seq}",
        seq=seq,
        stored=f"base/b{seq}/data.zst.enc",
        sha256="0" * 64,
        size=1,
        stored_size=1,
    )


def test_gtid_lists_are_read_per_domain() -> None:
    assert sequence_of("0-2-46243,0-1-48951") == 48951
    assert sequence_of("1-1-9") is None
    assert sequence_of("") is None
    assert gtid_at("0-2-46243,0-1-48951,1-3-99999") == "0-1-48951"


def test_only_files_with_new_transactions_are_archived_and_a_hole_breaks_the_chain() -> None:
    closed = [ClosedFile("f1", 0, 10), ClosedFile("f2", 10, 20), ClosedFile("f3", 20, 20)]
    assert to_archive(closed, None).files == ["f1", "f2"]
    assert to_archive(closed, 10).files == ["f2"]
    assert not to_archive(closed, 10).broken
    assert to_archive(closed, 20).files == []
    # After a failover the new primary's file repeats part of the chain: it continues it.
    assert not to_archive([ClosedFile("g1", 5, 30)], 20).broken
    # A replica rebuilt from a copy at 40 never logged 21..40: the chain has a hole.
    rebuilt = to_archive([ClosedFile("g1", 40, 50)], 20)
    assert rebuilt.files == ["g1"] and rebuilt.broken


def test_a_restore_starts_from_the_newest_copy_before_the_moment_and_follows_the_chain() -> None:
    backups = [backup(5, 0), backup(25, 10)]
    segments = [segment("a", 0, 10, 2), segment("a", 10, 20, 8), segment("a", 20, 30, 12)]
    plan = plan_restore(backups, segments, minute(9))
    assert plan.backup.seq == 5
    # The third file is needed too: commits between its predecessor's end and 12:09.
    assert [s.segment.end_seq for s in plan.steps] == [10, 20, 30]
    assert [s.after for s in plan.steps] == ["0-1-5", "0-1-10", "0-1-20"]
    assert plan.complete
    later = plan_restore(backups, segments, minute(11))
    assert later.backup.seq == 25 and [s.segment.end_seq for s in later.steps] == [30]


def test_after_a_failover_the_new_primarys_file_carries_the_chain() -> None:
    segments = [
        segment("a", 0, 10, 2),
        segment("a", 10, 15, 4),
        segment("b", 8, 22, 6, server=2),  # repeats 9..15, then what b wrote as primary
        segment("b", 22, 30, 8, server=2),
    ]
    plan = plan_restore([backup(3, 1)], segments, minute(7.5))
    # From 10 on, b's file holds everything a's second one does and more: the newest
    # history wins; b replays only what follows 10.
    assert [(s.segment.node, s.after) for s in plan.steps] == [
        ("a", "0-1-3"),
        ("b", "0-1-10"),
        ("b", "0-2-22"),
    ]


def test_a_restore_says_what_it_cannot_reach() -> None:
    with pytest.raises(PlanError, match="no backup"):
        plan_restore([], [], minute(1))
    with pytest.raises(PlanError, match="earliest moment"):
        plan_restore([backup(5, 10)], [], minute(1))
    short = plan_restore([backup(5, 0)], [segment("a", 0, 10, 2)], minute(30))
    assert not short.complete and short.reaches == minute(2)
    holed = plan_restore(
        [backup(5, 0)], [segment("a", 0, 10, 2), segment("a", 15, 20, 4)], minute(30)
    )
    assert holed.reaches == minute(2), "a hole ends what a restore can reach"
    assert window([backup(5, 0)], [segment("a", 0, 10, 2)]) == (minute(0), minute(2))


def test_a_node_deletes_only_archived_and_old_binary_logs() -> None:
    segments = [segment("a", 0, 10, 0), segment("a", 10, 20, 50), segment("a", 20, 30, 58)]
    files = [
        ClosedFile("f1", 0, 10),
        ClosedFile("f2", 10, 20),
        ClosedFile("f3", 20, 30),
        ClosedFile("f4", 30, 40),  # not archived yet
        ClosedFile("f5", 40, 40),  # being written
    ]
    keep = timedelta(minutes=30)
    assert purgeable(files, segments, [backup(5, 0)], minute(60), keep) == "f2"
    assert purgeable(files, segments, [backup(5, 0)], minute(100), keep) == "f4"
    assert purgeable(files, [], [], minute(100), keep) is None
    # Older than the archive: deleted only once every backup is past it.
    pre_archive = [ClosedFile("e1", 0, 3), *files]
    assert purgeable(pre_archive, segments[1:], [backup(2, 0)], minute(100), keep) is None
    assert purgeable(pre_archive, segments[1:], [backup(5, 0)], minute(100), keep) == "f1"


def test_retention_keeps_the_newest_copies_and_the_logs_they_need() -> None:
    backups = [backup(5, 0), backup(15, 10), backup(25, 20)]
    segments = [segment("a", 0, 10, 2), segment("a", 10, 20, 12), segment("a", 20, 30, 22)]
    dropped, old = expired(backups, segments, keep=2)
    assert [b.seq for b in dropped] == [5]
    assert [s.end_seq for s in old] == [10]
    assert expired(backups, segments, keep=3) == ([], [])


def test_transactions_are_read_from_mariadb_binlog_text() -> None:
    lines = [
        "# at 4",
        "#261204 21:39:08 server id 1  end_log_pos 256 CRC32 0x1 \tStart: binlog v 4",
        "#261204 21:39:08 server id 1  end_log_pos 408 CRC32 0xe8a2d6b2 \tGTID 0-1-48952 ddl",
        "BINLOG '...'",
        "#261205  0:51:56 server id 2  end_log_pos 912426 CRC32 0x58 \tGTID 0-2-51511 trans",
    ]
    found = transactions_in(lines)
    assert found.first == (datetime(2026, 12, 4, 21, 39, 8, tzinfo=UTC), "0-1-48952")
    assert found.last == (datetime(2026, 12, 5, 0, 51, 56, tzinfo=UTC), "0-2-51511")
    assert transactions_in(["# nothing"]).first is None


def test_a_week_of_archived_logs_is_followed_file_by_file() -> None:
    # A week at one file a minute; one pass over them (a quadratic search took minutes).
    segments = [segment("a" if n % 50 else "b", n, n + 1, n / 10) for n in range(10_080)]
    plan = plan_restore([backup(0, 0)], list(reversed(segments)), minute(10_000))
    assert [s.segment.end_seq for s in plan.steps] == list(range(1, 10_081))
    assert plan.steps[-1].after == "0-1-10079" and not plan.complete


def test_an_adopted_restore_numbers_its_history_past_the_old_one() -> None:
    assert new_history_after(0) == 1_000_000
    assert new_history_after(999_999) == 1_000_000
    assert new_history_after(1_000_000) == 2_000_000


def test_restores_before_and_after_an_adoption_each_follow_their_own_history() -> None:
    # Old history: a copy at 100, files to 160 (the last ones after the moment restored).
    # Restored to seq 120 and adopted at minute 30: the new history starts past 1,000,000.
    start = new_history_after(160)
    old = [segment("a", 100, 120, 10), segment("a", 120, 160, 20)]
    new = [segment("a", start + 5, start + 40, 40), segment("a", start + 40, start + 60, 50)]
    backups = [backup(100, 5), backup(start + 5, 31)]
    before = plan_restore(backups, old + new, minute(15))
    assert before.backup.seq == 100
    assert [s.segment.end_seq for s in before.steps] == [120, 160]  # never into the new
    after = plan_restore(backups, old + new, minute(45))
    assert after.backup.seq == start + 5
    assert [s.segment.end_seq for s in after.steps] == [start + 40, start + 60]
    # Between the adoption and its first copy nothing reaches: the plan says so.
    gap = plan_restore(backups, old + new, minute(30.5))
    assert gap.backup.seq == 100 and not gap.complete
    # The archiver sees the new history as a broken chain: a full copy restarts it.
    assert to_archive([ClosedFile("a-bin.000002", start + 60, start + 70)], 160).broken
