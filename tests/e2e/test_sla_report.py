"""The SLA as measured on the shared system: Prometheus scrapes every service and every
monitor, every journey is probed, and `medsys sla` reports exactly what the raw probe
samples say; its HTML report draws in Chromium with nothing fetched from the network."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from playwright.sync_api import Browser

from medsys.core.topology import PAIRS
from medsys.sla import config
from tests.conftest import MedsysCluster, eventually
from tests.e2e.conftest import SHOTS, shot

WINDOW = 120


def _query(cluster: MedsysCluster, query: str, at: float | None = None) -> list[dict]:  # type: ignore[type-arg]
    params = {"query": query} | ({"time": f"{at:.3f}"} if at is not None else {})
    answer = httpx.get(f"{cluster.settings.url('prometheus')}/api/v1/query", params=params)
    answer.raise_for_status()
    return answer.json()["data"]["result"]  # type: ignore[no-any-return]


def test_every_service_and_monitor_is_scraped_and_every_journey_probed(
    cluster: MedsysCluster,
) -> None:
    jobs = ("clinical", "admin", "portal", "middleware", "monitors", "prober", "blackbox")

    def all_up() -> bool:
        found = _query(cluster, "up")
        return {r["metric"]["job"] for r in found if r["value"][1] == "1"} >= set(jobs)

    eventually(all_up, within=60, what="every scrape target up")
    journeys = {j.name for j in config.journeys(cluster.settings)}

    def probed() -> bool:
        found = _query(cluster, "probe_success")
        return {r["metric"]["journey"] for r in found} == journeys

    eventually(probed, within=60, what="every journey probed")
    primaries = _query(cluster, "sum by (pair) (medsys_monitor_node_primary)")
    assert {r["metric"]["pair"]: r["value"][1] for r in primaries} == {p.name: "1" for p in PAIRS}


def test_the_report_is_what_the_raw_samples_say_and_draws_offline(
    cluster: MedsysCluster, browser: Browser
) -> None:
    def enough_samples() -> bool:
        counts = _query(cluster, f"count_over_time(probe_success[{WINDOW}s])")
        return len(counts) >= 9 and all(float(r["value"][1]) >= 10 for r in counts)

    eventually(enough_samples, within=120, what="ten samples of every journey")
    page_file = SHOTS / "sla-report.html"
    SHOTS.mkdir(parents=True, exist_ok=True)
    answer = cluster.medsys(
        "sla", "--since", f"{WINDOW // 60}m", "--json", "--html", str(page_file)
    )
    report = json.loads(answer.stdout)

    for line in report["journeys"]:
        raw = _query(
            cluster, f'probe_success{{journey="{line["journey"]}"}}[{WINDOW}s]', report["at"]
        )
        samples = [float(value) for series in raw for _, value in series["values"]]
        assert line["samples"] == len(samples), line["journey"]
        assert abs(line["availability"] - sum(samples) / len(samples)) < 1e-9, line["journey"]
    for line in report["services"]:
        assert 0.0 <= line["availability"] <= 1.0
        budget = line["budget"]
        assert abs(budget["allowed_seconds"] - 0.04 * WINDOW) < 1e-6

    page = browser.new_page()
    outside: list[str] = []
    page.on(
        "request",
        lambda request: (
            outside.append(request.url)
            if not request.url.startswith(("file:", "data:", "blob:"))
            else None
        ),
    )
    page.goto(Path(page_file).as_uri())
    page.wait_for_selector(".js-plotly-plot .main-svg")
    assert page.locator(".js-plotly-plot").count() == 4
    assert page.get_by_role("heading", name="Nivel de servicio de medsys").is_visible()
    shot(page, "sla-report")
    page.close()
    assert outside == []
