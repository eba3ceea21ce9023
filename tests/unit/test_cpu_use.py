"""The benchmark's CPU accounting (chaos.cpu_use) on a /proc made for the test."""

from __future__ import annotations

from pathlib import Path

from medsys.chaos import cpu_use


def stat_line(pid: int, name: str, parent: int, user: int, system: int) -> str:
    # pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
    return f"{pid} ({name}) S {parent} 1 1 0 -1 0 0 0 0 0 {user} {system} 0 0 20 0 1 0\n"


def fake_proc(root: Path, rows: list[tuple[int, str, int, int, int]]) -> Path:
    root.mkdir()
    for pid, name, parent, user, system in rows:
        (root / str(pid)).mkdir()
        (root / str(pid) / "stat").write_text(stat_line(pid, name, parent, user, system))
    (root / "self").mkdir()  # not a pid: skipped
    return root


def test_a_command_name_with_spaces_and_parentheses_is_read() -> None:
    assert cpu_use.parse_stat(stat_line(42, "python3 (gunicorn) x", 7, 10, 5)) == (42, 7, 15)


def test_each_service_counts_its_whole_tree_and_only_what_it_used_between_readings(
    tmp_path: Path,
) -> None:
    before_rows = [
        (10, "gunicorn", 1, 100, 0),  # app3's master
        (11, "gunicorn", 10, 500, 100),  # its worker
        (20, "postgres", 1, 50, 50),  # the postmaster
        (99, "other", 1, 1000, 0),  # not a service
    ]
    services = {"app3": 10, "postgres_primary": 20, "stopped": 30}
    before = cpu_use.trees(cpu_use.read_processes(fake_proc(tmp_path / "a", before_rows)), services)
    after_rows = [
        (10, "gunicorn", 1, 100, 0),
        (11, "gunicorn", 10, 700, 200),  # +300 ticks
        (20, "postgres", 1, 60, 50),  # +10
        (21, "postgres", 20, 80, 10),  # a backend born meanwhile: +90, whole
        (99, "other", 1, 5000, 0),
    ]
    after = cpu_use.trees(cpu_use.read_processes(fake_proc(tmp_path / "b", after_rows)), services)
    assert after["stopped"] == {}
    per_page = cpu_use.ms_per_page(before, after, pages=10)
    tick_ms = 1000 / cpu_use.CLOCK_TICKS
    assert per_page == {
        "app3": 300 * tick_ms / 10,
        "postgres_primary": 100 * tick_ms / 10,
        "stopped": 0.0,
    }
    assert list(per_page) == ["app3", "postgres_primary", "stopped"], "largest first"
    line = cpu_use.summary(per_page, cores=2)
    assert line.startswith("CPU per page, ms: app3 ") and "stopped" not in line
    assert "pages/s on 2 cores" in line


def test_no_pages_no_figures() -> None:
    assert cpu_use.ms_per_page({}, {"app3": {10: 5}}, pages=0) == {}
