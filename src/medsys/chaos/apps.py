"""Application scenarios: the seed's "stop app1" and "stop both app1 and app1-replica",
measured from a patient's side through the middleware."""

from __future__ import annotations

import time

import httpx

from medsys.chaos.figures import Figures
from medsys.chaos.http_load import Reader, percentile
from medsys.chaos.lab import Lab
from medsys.core.keys import operator_token
from medsys.core.tokens import Role, Service


def _reader(lab: Lab) -> Reader:
    """A patient reading their history, once the history answers: breakers an earlier
    fault left open (e.g. `bench middleware` stops both instances) close first."""
    token = operator_token(lab.settings, Role.PATIENT, "11111111-1", audience=Service.MIDDLEWARE)
    url = f"http://127.0.0.1:{lab.settings.port('middleware')}/api/medical-history/11111111-1"
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + 30
    with httpx.Client(timeout=10) as client:
        while client.get(url, headers=headers).status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("the history never answered 200 before the fault")
            time.sleep(0.2)
    return Reader(url, headers)


def _count(figures: Figures, reader: Reader) -> None:
    samples = reader.stop()
    figures.writes = sum(1 for s in samples if s.status == 200)
    figures.write_errors = sum(1 for s in samples if s.status != 200)
    latencies = [s.seconds for s in samples if s.status == 200]
    if latencies:
        figures.notes.append(
            f"{len(samples)} history requests; p50 {percentile(latencies, 0.5) * 1000:.1f} ms, "
            f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms, max {max(latencies) * 1000:.0f} ms"
        )


def stop_app1(lab: Lab, figures: Figures) -> None:
    figures.fault = "stop app1 while patients read their history, then start it"
    figures.lost = figures.duplicated = None
    reader = _reader(lab)
    reader.start()
    time.sleep(1)
    lab.stop("app1")
    time.sleep(4)
    lab.start("app1")
    time.sleep(2)
    _count(figures, reader)
    if figures.write_errors:
        figures.broken.append(f"{figures.write_errors} client requests failed with app1-replica up")


def stop_clinical(lab: Lab, figures: Figures) -> None:
    figures.fault = "stop app1 and app1-replica: the breakers open and answer at once; start them"
    figures.lost = figures.duplicated = None
    reader = _reader(lab)
    reader.start()
    time.sleep(1)
    lab.stop("app1")
    lab.stop("app1-replica")
    stopped_at = time.time()  # both gone: app1-replica answers while app1 stops
    time.sleep(4)
    started_at = time.time()
    lab.start("app1")
    lab.start("app1-replica")
    deadline = time.time() + 30
    while time.time() < deadline:
        if any(s.status == 200 and s.at > started_at for s in reader.samples):
            break
        time.sleep(0.1)
    samples = reader.stop()
    down = [s for s in samples if stopped_at + 1 < s.at < started_at]
    fast = [s.seconds for s in down if s.status == 503]
    back = next((s.at for s in samples if s.status == 200 and s.at > started_at), None)
    figures.writes = sum(1 for s in samples if s.status == 200)
    figures.write_errors = sum(1 for s in samples if s.status not in (200, 503))
    if fast:
        figures.notes.append(
            f"while down: {len(down)} answers, {len(fast)} were 503; fail-fast p99 "
            f"{percentile(fast, 0.99) * 1000:.1f} ms (target <= 5 ms)"
        )
    figures.rejoin = back - started_at if back else None
    if any(s.status == 200 for s in down):
        figures.broken.append("history answered 200 with every clinical instance down")
    if len(fast) < len(down):
        figures.broken.append("some answers while down were not a prompt 503")
    if back is None:
        figures.broken.append("history did not come back within 30 s of the restart")
    if figures.write_errors:
        figures.broken.append(f"{figures.write_errors} answers were neither 200 nor 503")
