"""Every service's /metrics, scraped as Prometheus would: the same names and labels on
clinical, admin, the portal and the middleware, and under gunicorn the counts of every
worker process added up (a scrape reaches one worker)."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.conftest import MedsysCluster

pytestmark = pytest.mark.integration
NAMES = (
    "medsys_http_requests_total",
    "medsys_http_request_seconds_bucket",
    "medsys_http_requests_in_flight",
)
# Each instance of each service; admin's two behind nginx are scraped one by one.
INSTANCES = ("app1", "app1-replica", "app2-1", "app2-2", "app3", "middleware")


def served(text: str, route: str) -> float:
    pattern = re.compile(
        r'^medsys_http_requests_total\{(?=[^}]*method="GET")(?=[^}]*route="'
        + re.escape(route)
        + r'")(?=[^}]*status="200")[^}]*\} ([0-9.e+]+)$',
        re.MULTILINE,
    )
    return sum(float(value) for value in pattern.findall(text))


@pytest.mark.parametrize("instance", INSTANCES)
def test_every_service_counts_its_requests_under_the_same_names(
    cluster: MedsysCluster, instance: str
) -> None:
    base = cluster.settings.url(instance)
    before = served(httpx.get(f"{base}/metrics").text, "/health")
    # More calls than gunicorn has workers: a scrape that saw one worker's counts only
    # would come up short.
    for _ in range(12):
        assert httpx.get(f"{base}/health").status_code == 200
    scraped = httpx.get(f"{base}/metrics")
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    for name in NAMES:
        assert name in scraped.text, f"{instance} lacks {name}"
    assert served(scraped.text, "/health") >= before + 12
