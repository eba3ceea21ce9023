"""Where a benchmark's CPU went: the CPU time each supervised service used (the process
supervisord started and every process under it: gunicorn's workers, PostgreSQL's
backends), read from ``/proc``. Local mode only; containers and remote nodes are not
looked into.

Every capacity question so far ("which process is the ceiling?") was answered by hand
with ``/proc`` and py-spy; a benchmark that prints it lets a reader see a change's effect
per process, in the same run as the throughput it explains.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# pid -> (parent pid, CPU ticks used so far, user and system)
Processes = dict[int, tuple[int, int]]


def parse_stat(text: str) -> tuple[int, int, int]:
    """(pid, parent pid, user + system ticks) of one ``/proc/PID/stat``. The command
    name is in parentheses and may hold spaces or parentheses itself: split at the last."""
    head, _, rest = text.rpartition(")")
    fields = rest.split()
    return int(head.split(" (", 1)[0]), int(fields[1]), int(fields[11]) + int(fields[12])


def read_processes(proc: Path = Path("/proc")) -> Processes:
    found: Processes = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            pid, parent, ticks = parse_stat((entry / "stat").read_text())
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        found[pid] = (parent, ticks)
    return found


def trees(processes: Processes, roots: Mapping[str, int]) -> dict[str, dict[int, int]]:
    """For each service, the ticks of its root process and of every process under it."""
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in processes.items():
        children.setdefault(parent, []).append(pid)
    found: dict[str, dict[int, int]] = {}
    for name, root in roots.items():
        members: dict[int, int] = {}
        waiting = [root] if root in processes else []
        while waiting:
            pid = waiting.pop()
            members[pid] = processes[pid][1]
            waiting += children.get(pid, [])
        found[name] = members
    return found


def ms_per_page(
    before: Mapping[str, Mapping[int, int]], after: Mapping[str, Mapping[int, int]], pages: int
) -> dict[str, float]:
    """Milliseconds of CPU per page each service used between the two readings, largest
    first. A process born in between counts whole; one that ended in between is lost."""
    if pages <= 0:
        return {}
    used = {
        name: sum(ticks - before.get(name, {}).get(pid, 0) for pid, ticks in members.items())
        for name, members in after.items()
    }
    per_page = {name: 1000 * ticks / CLOCK_TICKS / pages for name, ticks in used.items()}
    return dict(sorted(per_page.items(), key=lambda item: item[1], reverse=True))


def summary(per_page: Mapping[str, float], cores: int) -> str:
    """One line: the services that used at least 0.1 ms a page, their sum, and the pages
    per second that sum allows on ``cores`` if CPU alone is the limit."""
    shown = [f"{name} {ms:.1f}" for name, ms in per_page.items() if ms >= 0.1]
    total = sum(per_page.values())
    bound = f"; at most {cores * 1000 / total:.0f} pages/s on {cores} cores" if total else ""
    return f"CPU per page, ms: {', '.join(shown)}; all {total:.1f}{bound}"
