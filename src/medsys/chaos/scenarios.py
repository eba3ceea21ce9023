"""The fault scenarios. Each runs one fault on one pair under a write load and returns the
measured figures and the guarantees that broke (none, when all is well)."""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections import Counter
from collections.abc import Callable

from medsys.chaos import apps
from medsys.chaos.figures import Figures
from medsys.chaos.lab import Lab, ScenarioError
from medsys.chaos.network import NetworkCutError, ReplicationCut
from medsys.chaos.workload import Workload
from medsys.core.topology import Pair
from medsys.launcher.cluster import LaunchError
from medsys.launcher.supervisor import SupervisorError
from medsys.nodes.base import NodeError, one_line, server_gid
from medsys.pairs.state import PairState

DETECTION_TARGET = 3.0
WRITES_BACK_TARGET = 5.0


def _seconds(value: float | None, target: float | None = None) -> str:
    if value is None:
        return "-"
    goal = ""
    if target is not None:
        goal = f"   (target <= {target:.0f} s{'' if value <= target else ', missed'})"
    return f"{value:.2f} s{goal}"


def render(figures: Figures) -> str:
    lines = [
        f"scenario {figures.scenario} on {figures.pair}: {figures.fault}",
        f"  detection              {_seconds(figures.detection, DETECTION_TARGET)}",
        f"  promotion done         {_seconds(figures.promotion)}",
        f"  longest write gap      {_seconds(figures.write_gap, WRITES_BACK_TARGET)}",
        f"  failovers              {figures.failovers}",
    ]
    if figures.lost is None:
        lines = [
            f"scenario {figures.scenario}: {figures.fault}",
            f"  requests answered 200  {figures.writes}",
            f"  client-visible errors  {figures.write_errors}",
            f"  back after restart in  {_seconds(figures.rejoin)}",
        ]
    else:
        lines += [
            f"  writes acknowledged    {figures.writes}",
            f"  client-visible errors  {figures.write_errors} writes "
            f"({figures.outcome_unknown} with unknown outcome), "
            f"{figures.read_errors} of {figures.reads + figures.read_errors} reads",
            f"  acknowledged lost      {figures.lost}   (must be 0)",
            f"  rows duplicated        {figures.duplicated}   (must be 0)",
            f"  two writable at once   {'YES' if figures.both_writable else 'never'}",
            f"  old node rejoined in   {_seconds(figures.rejoin)}",
        ]
    lines += [f"  note: {note}" for note in figures.notes]
    lines += [f"  BROKEN: {broken}" for broken in figures.broken]
    lines.append(f"  verdict                {'PASS' if figures.passed else 'FAIL'}")
    return "\n".join(lines)


def summary(results: list[Figures]) -> str:
    """One line per pair: runs, failovers, refusals, acknowledged writes, lost."""
    lines = ["summary:"]
    for pair in sorted({figures.pair for figures in results}):
        mine = [f for f in results if f.pair == pair and f.lost is not None]
        if not mine:
            continue
        refused = sum(any(n.startswith("promotion refused") for n in f.notes) for f in mine)
        gaps = sorted(f.write_gap for f in mine if f.write_gap is not None)
        median_gap = f"{gaps[len(gaps) // 2]:.2f} s" if gaps else "-"
        lines.append(
            f"  {pair:9} {len(mine)} runs, {sum(f.failovers for f in mine)} failovers, "
            f"{refused} refused, {sum(f.writes for f in mine)} writes acknowledged, "
            f"{sum(f.lost or 0 for f in mine)} lost, median write gap {median_gap}"
        )
    return "\n".join(lines)


def _longest_gap(commit_times: list[float], start: float, end: float) -> float:
    moments = [start, *sorted(t for t in commit_times if start <= t <= end), end]
    return max(later - earlier for earlier, later in itertools.pairwise(moments))


def _settle(lab: Lab, workload: Workload, figures: Figures, fault_at: float) -> None:
    """Stop the load and count: lost, duplicated, errors, gaps, split brain."""
    workload.stop()
    end = time.time()
    tally = workload.tally
    stored = workload.stored_rows()
    counts = Counter(stored)
    figures.writes = len(tally.acknowledged)
    figures.lost = len(tally.acknowledged - set(counts))
    figures.duplicated = sum(count - 1 for count in counts.values() if count > 1)
    figures.write_errors = len(tally.write_errors)
    figures.outcome_unknown = tally.outcome_unknown
    figures.reads, figures.read_errors = tally.reads, len(tally.read_errors)
    figures.write_gap = _longest_gap(tally.commit_times, fault_at, end)
    figures.both_writable = bool(tally.both_writable_at)
    if figures.lost:
        figures.broken.append(f"{figures.lost} acknowledged writes lost")
    if figures.duplicated:
        figures.broken.append(f"{figures.duplicated} rows duplicated")
    if figures.both_writable:
        figures.broken.append("two nodes accepted writes at the same time")
    if tally.write_errors:
        figures.notes.append(f"first write error: {tally.write_errors[0][1]}")
    workload.close()


def _failover(lab: Lab, pair: Pair, figures: Figures, fault_at: float) -> None:
    figures.detection = lab.wait_event(pair, "primary-dead", fault_at)
    figures.promotion = lab.wait_event(pair, "promoted", fault_at)
    figures.failovers += 1


def _bring_back(lab: Lab, pair: Pair, figures: Figures, node: str) -> None:
    """Start a database node again. One whose data cannot start (it dies while starting
    on every try) is made anew from the primary by its monitor: a note, not a broken
    guarantee; the caller's wait for it to replicate again still judges the outcome."""
    asked_at = time.time()
    try:
        lab.start(node)
    except (LaunchError, SupervisorError) as error:
        if node == lab.state(pair).primary:
            raise
        lab.wait_event(pair, "rebuild", asked_at, timeout=60)
        figures.notes.append(
            f"{node} could not start on its data ({one_line(error)}); its monitor made it "
            "anew from the primary"
        )


def _rejoin_old(lab: Lab, pair: Pair, figures: Figures, old: str) -> None:
    if not lab.cluster.supervisor.is_process_running(old):
        _bring_back(lab, pair, figures, old)
    figures.rejoin = lab.wait_rejoined(pair, old)
    if lab.probe(pair, old).writable:
        figures.broken.append(f"{old} came back writable")


Scenario = Callable[[Lab, Pair, Workload, Figures], None]


def kill_primary(lab: Lab, pair: Pair, workload: Workload, figures: Figures) -> None:
    old = lab.state(pair).primary
    figures.fault = f"SIGKILL {old} under load, then restart it"
    fault_at = time.time()
    lab.kill(old)
    _failover(lab, pair, figures, fault_at)
    time.sleep(1)
    _rejoin_old(lab, pair, figures, old)
    _settle(lab, workload, figures, fault_at)


def stop_primary(lab: Lab, pair: Pair, workload: Workload, figures: Figures) -> None:
    old = lab.state(pair).primary
    figures.fault = f"graceful stop of {old}, then start it"
    fault_at = time.time()
    lab.stop(old)
    _failover(lab, pair, figures, fault_at)
    _rejoin_old(lab, pair, figures, old)
    _settle(lab, workload, figures, fault_at)


def freeze_primary(lab: Lab, pair: Pair, workload: Workload, figures: Figures) -> None:
    old = lab.state(pair).primary
    figures.fault = f"SIGSTOP {old} past detection, then SIGCONT (it must take no writes)"
    fault_at = time.time()
    frozen = lab.freeze(pair, old)
    try:
        _failover(lab, pair, figures, fault_at)
        time.sleep(1)
    finally:
        lab.thaw(frozen)
    time.sleep(1)
    probe = lab.probe(pair, old)
    if probe.reachable and probe.writable:
        figures.broken.append(f"{old} accepted writes after it was resumed")
    _rejoin_old(lab, pair, figures, old)
    _settle(lab, workload, figures, fault_at)


def kill_replica(lab: Lab, pair: Pair, workload: Workload, figures: Figures) -> None:
    state = lab.state(pair)
    replica = pair.other(state.primary)
    figures.fault = f"SIGKILL the replica {replica}, writes go on, then restart it"
    fault_at = time.time()
    lab.kill(replica)
    time.sleep(4)
    _bring_back(lab, pair, figures, replica)
    figures.rejoin = lab.wait_rejoined(pair, replica)
    lab.wait_until("the replica back in sync", lambda: lab.state(pair).replica_in_sync, 30)
    if lab.state(pair).term != state.term:
        figures.broken.append("a failover happened although only the replica died")
    _settle(lab, workload, figures, fault_at)


def kill_monitor_mid_failover(lab: Lab, pair: Pair, workload: Workload, figures: Figures) -> None:
    state = lab.state(pair)
    old = state.primary
    figures.fault = f"SIGKILL {old}, then SIGKILL {pair.monitor} after its 2nd failed probe"
    fault_at = time.time()
    lab.kill(old)
    lab.wait_until(
        "the monitor's second failed probe",
        lambda: any("failed probe 2/" in e["sentence"] for e in lab.events(pair, fault_at)),
        15,
    )
    lab.kill(pair.monitor)  # supervisord restarts it; it resumes from the pair state
    figures.notes.append("monitor killed mid-detection and restarted by supervisord")
    _failover(lab, pair, figures, fault_at)
    time.sleep(2)
    terms = lab.state(pair).term - state.term
    if terms != 1:
        figures.broken.append(f"{terms} promotions for one failure (must be exactly 1)")
    _rejoin_old(lab, pair, figures, old)
    _settle(lab, workload, figures, fault_at)


def monitor_after_primary_dead(lab: Lab, pair: Pair, workload: Workload, figures: Figures) -> None:
    state = lab.state(pair)
    old = state.primary
    figures.fault = f"stop {pair.monitor}, SIGKILL {old}, start the monitor 3 s later"
    lab.stop(pair.monitor)
    fault_at = time.time()
    lab.kill(old)
    time.sleep(3)
    lab.start(pair.monitor)
    _failover(lab, pair, figures, fault_at)
    if lab.state(pair).term - state.term != 1:
        figures.broken.append("the late monitor did not promote exactly once")
    _rejoin_old(lab, pair, figures, old)
    _settle(lab, workload, figures, fault_at)


def flip_flop(
    lab: Lab, pair: Pair, workload: Workload, figures: Figures, duration: float = 60.0
) -> None:
    figures.fault = f"kill the primary again and again for {duration:.0f} s (failover and failback)"
    fault_at = time.time()
    detections: list[float] = []
    while time.time() - fault_at < duration:
        lab.wait_ready(pair)
        old = lab.state(pair).primary
        killed_at = time.time()
        lab.kill(old)
        detections.append(lab.wait_event(pair, "primary-dead", killed_at))
        lab.wait_event(pair, "promoted", killed_at)
        figures.failovers += 1
        lab.acknowledge(pair)  # the operator's word: allow the next automatic failover
        _bring_back(lab, pair, figures, old)
        lab.wait_rejoined(pair, old)
    figures.detection = max(detections) if detections else None
    figures.notes.append(f"detection per failover: {', '.join(f'{d:.2f}' for d in detections)} s")
    if duration >= 60 and figures.failovers < 5:
        figures.broken.append(f"only {figures.failovers} failovers in {duration:.0f} s (want >= 5)")
    _settle(lab, workload, figures, fault_at)


def _cut_then_kill(
    lab: Lab,
    pair: Pair,
    workload: Workload,
    figures: Figures,
    *,
    towards: bool,
    back: bool,
    delay: float = 1.25,
) -> None:
    """The replication link breaks, then the primary's host dies: the loss window of a
    replica promoted while it lacked acknowledged writes. Either the monitor promotes a
    replica that has every acknowledged write, or it refuses and says why; never a loss."""
    before = lab.state(pair)
    old = before.primary
    direction = (
        "both ways" if towards and back else ("replica->primary" if towards else "primary->replica")
    )
    figures.fault = (
        f"cut the replication link to {old} ({direction}), SIGKILL {old} {delay:.2f} s "
        "later, heal the link once the monitor has decided"
    )
    cut = ReplicationCut(lab.settings.port(old), server_gid(lab.settings), towards, back)
    fault_at = time.time()
    with cut:
        time.sleep(delay)
        killed_at = time.time()
        lab.kill(old)
        outcome = _promoted_or_refused(lab, pair, killed_at)
    _after_decision(lab, pair, figures, outcome, before=before, killed_at=killed_at)
    _settle(lab, workload, figures, fault_at)


def _after_decision(
    lab: Lab,
    pair: Pair,
    figures: Figures,
    outcome: str,
    *,
    before: PairState,
    killed_at: float,
) -> None:
    """Promoted: figures, acknowledgement (the next run may fail over at once) and the old
    primary rejoined. Refused: the old primary, still the recorded one, comes back."""
    if outcome == "promoted":
        figures.detection = lab.wait_event(pair, "primary-dead", killed_at)
        figures.promotion = lab.wait_event(pair, "promoted", killed_at)
        figures.failovers = lab.state(pair).term - before.term
        lab.acknowledge(pair)
        _rejoin_old(lab, pair, figures, before.primary)
    else:
        figures.notes.append(f"promotion refused: {outcome}")
        lab.start(before.primary)
        lab.wait_ready(pair)


def _promoted_or_refused(lab: Lab, pair: Pair, since: float, timeout: float = 15) -> str:
    """'promoted', or the monitor's reason to refuse (it keeps refusing while it lasts)."""
    found: list[str] = []

    def decided() -> bool:
        for event in lab.events(pair, since):
            if event["event"] == "promoted":
                found.append("promoted")
            elif event["event"] == "promotion-refused":
                found.append(str(event["sentence"]).split(": ", 1)[-1])
        return bool(found)

    try:
        lab.wait_until(f"the {pair.name} monitor's decision", decided, timeout)
    except ScenarioError:
        return "no decision within 15 s (nothing promoted)"
    return "promoted" if "promoted" in found else found[0]


def partition_kill(lab: Lab, pair: Pair, workload: Workload, figures: Figures) -> None:
    _cut_then_kill(lab, pair, workload, figures, towards=True, back=True)


def partition_kill_towards(lab: Lab, pair: Pair, workload: Workload, figures: Figures) -> None:
    _cut_then_kill(lab, pair, workload, figures, towards=True, back=False)


def partition_kill_back(lab: Lab, pair: Pair, workload: Workload, figures: Figures) -> None:
    _cut_then_kill(lab, pair, workload, figures, towards=False, back=True)


def partition_kill_late(lab: Lab, pair: Pair, workload: Workload, figures: Figures) -> None:
    """The primary outlives the cut long enough to write alone: the monitor must have
    recorded that before it let a commit through, and so refuse to promote."""
    _cut_then_kill(lab, pair, workload, figures, towards=True, back=True, delay=5.0)


def isolate_primary(lab: Lab, pair: Pair, workload: Workload, figures: Figures) -> None:
    """The primary loses its monitor (frozen) and its replica (link cut) while the
    applications still reach it, then dies. Without a lease it must still acknowledge
    nothing alone: commits wait for a replica acknowledgement or for the monitor to record
    and relax, and neither can come. The monitor, resumed, promotes the replica, which
    has every acknowledged write."""
    before = lab.state(pair)
    old = before.primary
    figures.fault = (
        f"freeze {pair.monitor}, cut {old}'s replication link, 3 s of writes, "
        f"SIGKILL {old}, resume the monitor"
    )
    monitor = lab.pid(pair.monitor)
    cut = ReplicationCut(lab.settings.port(old), server_gid(lab.settings))
    fault_at = time.time()
    os.kill(monitor, signal.SIGSTOP)
    try:
        with cut:
            isolated_at = time.time()
            time.sleep(3)
            lab.kill(old)
            killed_at = time.time()
            alone = sum(isolated_at + 0.5 < t < killed_at for t in workload.tally.commit_times)
            if alone:
                figures.broken.append(f"{alone} writes acknowledged by the isolated primary")
            figures.notes.append(f"writes acknowledged while isolated (after 0.5 s): {alone}")
            os.kill(monitor, signal.SIGCONT)
            outcome = _promoted_or_refused(lab, pair, killed_at)
    finally:
        os.kill(monitor, signal.SIGCONT)
    _after_decision(lab, pair, figures, outcome, before=before, killed_at=killed_at)
    _settle(lab, workload, figures, fault_at)


def isolate_replica(lab: Lab, pair: Pair, workload: Workload, figures: Figures) -> None:
    """The replica alone is cut off for 6 s: commits pause until the monitor has recorded
    it out of sync, then go on alone; no failover; it catches up once the link heals."""
    before = lab.state(pair)
    figures.fault = f"cut {pair.other(before.primary)}'s replication link for 6 s, then heal"
    fault_at = time.time()
    with ReplicationCut(lab.settings.port(before.primary), server_gid(lab.settings)):
        time.sleep(6)
    lab.wait_until("the replica back in sync", lambda: lab.state(pair).replica_in_sync, 60)
    figures.rejoin = time.time() - fault_at - 6
    if lab.state(pair).term != before.term:
        figures.broken.append("a failover happened although only the replica was cut off")
    _settle(lab, workload, figures, fault_at)


def isolate_monitor(lab: Lab, pair: Pair, workload: Workload, figures: Figures) -> None:
    """The monitor is cut off (frozen) for 10 s: the pair goes on as it was, writes too;
    when it comes back it sees a healthy pair and does nothing."""
    before = lab.state(pair)
    figures.fault = f"freeze {pair.monitor} for 10 s under load, then resume it"
    monitor = lab.pid(pair.monitor)
    fault_at = time.time()
    os.kill(monitor, signal.SIGSTOP)
    try:
        time.sleep(10)
    finally:
        os.kill(monitor, signal.SIGCONT)
    time.sleep(2)
    if lab.state(pair).term != before.term:
        figures.broken.append("a failover happened although only the monitor was away")
    if any(e["event"] in ("primary-dead", "fenced") for e in lab.events(pair, fault_at)):
        figures.broken.append("the resumed monitor acted on a healthy pair")
    _settle(lab, workload, figures, fault_at)


SCENARIOS: dict[str, Scenario] = {
    "kill-primary": kill_primary,
    "stop-primary": stop_primary,
    "freeze-primary": freeze_primary,
    "kill-replica": kill_replica,
    "kill-monitor": kill_monitor_mid_failover,
    "late-monitor": monitor_after_primary_dead,
    "flip-flop": flip_flop,
    "partition-kill": partition_kill,
    "partition-kill-towards": partition_kill_towards,
    "partition-kill-back": partition_kill_back,
    "partition-kill-late": partition_kill_late,
    "isolate-primary": isolate_primary,
    "isolate-replica": isolate_replica,
    "isolate-monitor": isolate_monitor,
}
PARTITION_SCENARIOS = (
    "partition-kill",
    "partition-kill-towards",
    "partition-kill-back",
    "partition-kill-late",
    "isolate-primary",
    "isolate-replica",
    "isolate-monitor",
)

# What `medsys chaos all` runs: every scenario, spread over the three pairs.
ALL: tuple[tuple[str, str], ...] = (
    ("kill-primary", "clinical"),
    ("kill-primary", "admin"),
    ("kill-primary", "portal"),
    ("stop-primary", "admin"),
    ("freeze-primary", "clinical"),
    ("freeze-primary", "admin"),
    ("kill-replica", "admin"),
    ("kill-replica", "portal"),
    ("kill-monitor", "portal"),
    ("late-monitor", "admin"),
    ("flip-flop", "clinical"),
    ("partition-kill", "clinical"),
    ("partition-kill-back", "admin"),
    ("partition-kill-late", "portal"),
    ("isolate-primary", "admin"),
    ("isolate-replica", "clinical"),
    ("isolate-monitor", "portal"),
    ("stop-app1", "clinical"),
    ("stop-clinical", "clinical"),
)
APP_SCENARIOS = ("stop-app1", "stop-clinical")


def run(lab: Lab, name: str, pair: Pair, *, writers: int = 4, duration: float = 60.0) -> Figures:
    figures = Figures(scenario=name, pair=pair.name)
    if name in APP_SCENARIOS:
        try:
            (apps.stop_app1 if name == "stop-app1" else apps.stop_clinical)(lab, figures)
        except (ScenarioError, LaunchError, SupervisorError) as error:
            figures.broken.append(one_line(error))
        return figures
    try:
        lab.wait_ready(pair)
    except (ScenarioError, LaunchError, SupervisorError) as error:
        figures.broken.append(f"the pair was not ready: {one_line(error)}")
        return figures
    workload = Workload(lab.settings, lab.secrets, pair, writers=writers)
    workload.start()
    started = time.time()
    time.sleep(1.0)  # a steady load before the fault
    try:
        if name == "flip-flop":
            flip_flop(lab, pair, workload, figures, duration=duration)
        else:
            SCENARIOS[name](lab, pair, workload, figures)
    except (ScenarioError, LaunchError, SupervisorError, NodeError, NetworkCutError) as error:
        figures.broken.append(one_line(error))
        try:  # what was acknowledged is still counted, from whichever node now serves
            _settle(lab, workload, figures, started)
        except Exception as counting:  # the pair may be down for good
            workload.stop()
            workload.close()
            figures.notes.append(f"writes not counted: {one_line(counting)}")
    return figures
