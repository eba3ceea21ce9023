"""A steady HTTP reader for application scenarios and benchmarks: bounded, on loopback."""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass, field

import httpx


@dataclass
class Sample:
    at: float
    status: int  # 0 when no answer came
    seconds: float


@dataclass
class Reader:
    url: str
    headers: dict[str, str]
    pause: float = 0.05
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    status = client.get(self.url, headers=self.headers).status_code
                except httpx.HTTPError:
                    status = 0
                self.samples.append(Sample(time.time(), status, time.monotonic() - started))
                time.sleep(self.pause)

    def stop(self) -> list[Sample]:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=60)
        return self.samples


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[int(share * 1000) - 1]


def spread(values: list[float], unit: str, scale: float = 1.0) -> str:
    """min / median / max of figures from several runs: how runs on a machine whose speed
    drifts are compared (README, "Figures")."""
    shown = [value * scale for value in values]
    return (
        f"min {min(shown):.1f} / median {statistics.median(shown):.1f} / "
        f"max {max(shown):.1f} {unit}"
    )


def timed_statuses(
    client: httpx.Client, url: str, headers: dict[str, str], count: int
) -> list[tuple[int, float]]:
    results = []
    for _ in range(count):
        started = time.perf_counter()
        status = client.get(url, headers=headers).status_code
        results.append((status, time.perf_counter() - started))
    return results
