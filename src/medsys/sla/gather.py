"""Filling the SLA report (``sla.report``) from Prometheus and the monitors' registers."""

from __future__ import annotations

import time

from medsys.core.settings import Settings
from medsys.core.topology import PAIRS
from medsys.pairs.state import read_events
from medsys.sla import config
from medsys.sla.prometheus_api import PrometheusApi, Series
from medsys.sla.report import (
    JourneyLine,
    Report,
    ServiceLine,
    error_budget,
    failovers_from_register,
    write_gap,
)

SCRAPE_SECONDS = float(config.SCRAPE_EVERY.removesuffix("s"))
# A sample carries its scrape's start time but lands only when the scrape ends, up to the
# probe timeout later: a report "as of now" would miss the scrapes still in flight and
# change when read again. It stands that far back, where every sample has landed.
SETTLED_SECONDS = float(config.PROBE_TIMEOUT.removesuffix("s")) + 1.0
TIMELINE_POINTS = 400  # per series in the HTML report


def prometheus_for(settings: Settings) -> PrometheusApi:
    return PrometheusApi(settings.url("prometheus"))


def gather(settings: Settings, api: PrometheusApi, window: int, at: float | None = None) -> Report:
    at = time.time() - SETTLED_SECONDS if at is None else at
    span = f"{window}s"
    journeys = config.journeys(settings)

    def per_journey(query: str) -> dict[str, float]:
        return api.by_label(query, "journey", at)

    availability = per_journey(f"avg by (journey) (avg_over_time(probe_success[{span}]))")
    samples = per_journey(f"sum by (journey) (count_over_time(probe_success[{span}]))")
    p50 = per_journey(f"max by (journey) (quantile_over_time(0.5, probe_duration_seconds[{span}]))")
    p99 = per_journey(
        f"max by (journey) (quantile_over_time(0.99, probe_duration_seconds[{span}]))"
    )
    slowest = per_journey(f"max by (journey) (max_over_time(probe_duration_seconds[{span}]))")
    journey_lines = [
        JourneyLine(
            j.name,
            j.service,
            j.description,
            int(samples.get(j.name, 0)),
            availability.get(j.name),
            p50.get(j.name),
            p99.get(j.name),
            slowest.get(j.name),
        )
        for j in journeys
    ]

    up = api.by_label(f"avg_over_time(medsys:service_up[{span}])", "service", at)
    http = "sum by (job, le) (increase(medsys_http_request_seconds_bucket[{span}]))"
    http_p50 = api.by_label(f"histogram_quantile(0.5, {http.format(span=span)})", "job", at)
    http_p99 = api.by_label(f"histogram_quantile(0.99, {http.format(span=span)})", "job", at)
    service_lines = []
    for service in config.services(settings):
        share = up.get(service)
        service_lines.append(
            ServiceLine(
                service,
                share,
                error_budget(share, window) if share is not None else None,
                _finite(http_p50.get(service)),
                _finite(http_p99.get(service)),
            )
        )

    failovers = []
    for pair in PAIRS:
        found = failovers_from_register(read_events(settings, pair, since=at - window))
        for failover in found:
            writes = api.range(
                f'min(probe_success{{journey="write-{pair.name}"}})',
                failover.declared_dead - 120,
                min(at, failover.declared_dead + 180),
                SCRAPE_SECONDS,
            )
            if writes:
                failover.write_gap = write_gap(
                    writes[0].samples, failover.declared_dead, SCRAPE_SECONDS
                )
        failovers += found

    expected = len(journeys) * window / SCRAPE_SECONDS
    held = sum(line.samples for line in journey_lines)
    return Report(
        window=window,
        at=at,
        journeys=journey_lines,
        services=service_lines,
        failovers=sorted(failovers, key=lambda f: f.declared_dead),
        alerts=api.firing_alerts(),
        coverage=min(1.0, held / expected) if expected else None,
        timelines=_timelines(api, window, at),
    )


def _finite(value: float | None) -> float | None:
    return value if value is not None and value == value and value != float("inf") else None


def _timelines(
    api: PrometheusApi, window: int, at: float
) -> dict[str, dict[str, list[tuple[float, float]]]]:
    step = max(SCRAPE_SECONDS, window / TIMELINE_POINTS)
    bucket = f"{max(int(step), int(SCRAPE_SECONDS))}s"
    start = at - window

    def named(series: list[Series], label: str) -> dict[str, list[tuple[float, float]]]:
        return {s.labels.get(label, "?"): s.samples for s in series}

    return {
        "availability": named(
            api.range(f"avg_over_time(medsys:service_up[{bucket}])", start, at, step), "service"
        ),
        "latency": named(
            api.range(
                f"max by (journey) (max_over_time(probe_duration_seconds[{bucket}]))",
                start,
                at,
                step,
            ),
            "journey",
        ),
        "lag_seconds": named(
            api.range("max by (pair) (medsys_monitor_replica_lag_seconds)", start, at, step), "pair"
        ),
        "lag_bytes": named(
            api.range("max by (pair) (medsys_monitor_replica_lag_bytes)", start, at, step), "pair"
        ),
    }
