"""``medsys chaos soak``: minutes of steady load while a random part of the system fails
about every minute, then the SLA as Prometheus measured it (``medsys.sla``).

Faults, one at a time and only on a healthy system: SIGKILL a pair's primary, SIGSTOP it
for 8 s (a hung host), SIGKILL a replica, SIGKILL an application instance (supervisord
restarts it). A database node the fault took down is started again once the pair
failed over, as an operator would; the monitor makes it a replica. Every pair carries a
writer load throughout, and at the end every acknowledged write must read back.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from medsys.chaos.lab import Lab, ScenarioError
from medsys.chaos.workload import Workload
from medsys.core.topology import PAIRS
from medsys.launcher.cluster import LaunchError
from medsys.launcher.supervisor import SupervisorError
from medsys.nodes.base import one_line

APPLICATION_INSTANCES = ("app1", "app1-replica", "app2-1", "app2-2", "app3", "middleware")
FREEZE_SECONDS = 8.0
# The first register line a fault leaves on its pair, by kind of fault.
FIRST_SIGN = {"kill-primary": "probe-failed", "freeze-primary": "probe-failed"}


@dataclass
class Fault:
    kind: str
    target: str
    pair: str | None
    at: float  # wall clock
    registered_after: float | None = None  # fault to its first line in the failure register
    notes: list[str] = field(default_factory=list)


@dataclass
class SoakResult:
    started: float
    ended: float
    faults: list[Fault]
    acknowledged: int = 0
    lost: int = 0
    duplicated: int = 0
    broken: list[str] = field(default_factory=list)


def soak(
    lab: Lab,
    minutes: float,
    *,
    every: float = 60.0,
    seed: int | None = None,
    say: Callable[[str], None] = print,
) -> SoakResult:
    chooser = random.Random(seed)
    for pair in PAIRS:
        lab.wait_ready(pair)
    workloads = {
        pair.name: Workload(lab.settings, lab.secrets, pair, writers=2, pace=0.05) for pair in PAIRS
    }
    for workload in workloads.values():
        workload.start()
    result = SoakResult(started=time.time(), ended=0.0, faults=[])
    deadline = result.started + minutes * 60
    next_fault = result.started + min(every / 2, 20.0)
    try:
        while time.time() < deadline:
            if time.time() < next_fault:
                time.sleep(0.5)
                continue
            fault = _one_fault(lab, chooser, say)
            result.faults.append(fault)
            next_fault = fault.at + every * chooser.uniform(0.8, 1.2)
            try:
                _recover(lab, fault)
            except (ScenarioError, LaunchError, SupervisorError) as error:
                fault.notes.append(f"recovery: {one_line(error)}")
                result.broken.append(f"{fault.kind} {fault.target}: {one_line(error)}")
    finally:
        result.ended = time.time()
        _count(workloads, result)
    return result


def _one_fault(lab: Lab, chooser: random.Random, say: Callable[[str], None]) -> Fault:
    kind = chooser.choice(["kill-primary", "freeze-primary", "kill-replica", "kill-app"])
    if kind == "kill-app":
        target = chooser.choice(APPLICATION_INSTANCES)
        fault = Fault(kind, target, None, time.time())
        lab.kill(target)
    else:
        pair = chooser.choice(PAIRS)
        primary = lab.state(pair).primary
        target = primary if kind != "kill-replica" else pair.other(primary)
        fault = Fault(kind, target, pair.name, time.time())
        if kind == "freeze-primary":
            frozen = lab.freeze(pair, target)
            time.sleep(FREEZE_SECONDS)
            lab.thaw(frozen)
        else:
            lab.kill(target)
    say(f"{time.strftime('%H:%M:%S')} {kind} {target}")
    return fault


def _recover(lab: Lab, fault: Fault) -> None:
    if fault.pair is None:  # supervisord restarts an application instance by itself
        lab.wait_until(
            f"{fault.target} running again",
            lambda: lab.cluster.supervisor.is_process_running(fault.target),
            60,
        )
        return
    pair = next(p for p in PAIRS if p.name == fault.pair)
    first_sign = FIRST_SIGN.get(fault.kind, "degraded")
    with_time = lab.wait_event(pair, first_sign, fault.at, timeout=30)
    fault.registered_after = with_time
    if fault.kind in FIRST_SIGN:
        lab.wait_event(pair, "promoted", fault.at, timeout=60)
    lab.wait_ready(pair, timeout=120)  # starts the node the fault took down


def _count(workloads: dict[str, Workload], result: SoakResult) -> None:
    for name, workload in workloads.items():
        workload.stop()
        try:
            stored = Counter(workload.stored_rows())
        except Exception as error:  # a pair down for good: said, not hidden
            result.broken.append(f"{name}: writes not counted: {one_line(error)}")
            continue
        finally:
            workload.close()
        acknowledged = workload.tally.acknowledged
        result.acknowledged += len(acknowledged)
        lost = len(acknowledged - set(stored))
        result.lost += lost
        result.duplicated += sum(n - 1 for n in stored.values() if n > 1)
        if lost:
            result.broken.append(f"{name}: {lost} acknowledged writes lost")


def render(result: SoakResult) -> str:
    kinds = Counter(f.kind for f in result.faults)
    lines = [
        f"soak: {(result.ended - result.started) / 60:.1f} min, {len(result.faults)} faults "
        f"({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))})",
        f"writes: {result.acknowledged} acknowledged, {result.lost} lost, "
        f"{result.duplicated} duplicated",
        "",
        f"{'time':<10}{'fault':<16}{'target':<18}{'registered after':>17}",
    ]
    for fault in result.faults:
        registered = "-" if fault.registered_after is None else f"{fault.registered_after:.2f} s"
        lines.append(
            f"{time.strftime('%H:%M:%S', time.localtime(fault.at)):<10}{fault.kind:<16}"
            f"{fault.target:<18}{registered:>17}"
        )
    delays = [f.registered_after for f in result.faults if f.registered_after is not None]
    if delays:
        lines.append(
            f"fault to failure register: min {min(delays):.2f} s, max {max(delays):.2f} s "
            "(target < 5 s)"
        )
    if result.broken:
        lines += ["", "BROKEN:", *(f"  {b}" for b in result.broken)]
    return "\n".join(lines)
