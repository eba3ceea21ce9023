"""Reading Prometheus' HTTP API: instant queries, raw samples, ranges and alerts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx


class PrometheusError(RuntimeError):
    """Prometheus did not answer, or refused the query."""


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    samples: list[tuple[float, float]]  # (unix time, value)


class PrometheusApi:
    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=timeout)

    def _get(self, path: str, params: dict[str, Any]) -> Any:
        try:
            answer = self.client.get(path, params=params)
        except httpx.HTTPError as error:
            raise PrometheusError(
                f"Prometheus at {self.client.base_url} did not answer: {error}"
            ) from None
        body = (
            answer.json()
            if answer.headers.get("content-type", "").startswith("application/json")
            else {}
        )
        if answer.status_code != 200 or body.get("status") != "success":
            raise PrometheusError(
                f"Prometheus refused {params.get('query', path)!r}: "
                f"{body.get('error', answer.text[:200])}"
            )
        return body["data"]

    def instant(self, query: str, at: float) -> list[Series]:
        """An instant query; a range selector (``x[5m]``) returns its raw samples."""
        data = self._get("/api/v1/query", {"query": query, "time": f"{at:.3f}"})
        return _series(data)

    def value(self, query: str, at: float) -> float | None:
        """The one number an aggregating query gives, None when it gives nothing."""
        found = self.instant(query, at)
        return found[0].samples[-1][1] if found and found[0].samples else None

    def by_label(self, query: str, label: str, at: float) -> dict[str, float]:
        return {
            s.labels.get(label, ""): s.samples[-1][1] for s in self.instant(query, at) if s.samples
        }

    def range(self, query: str, start: float, end: float, step: float) -> list[Series]:
        data = self._get(
            "/api/v1/query_range",
            {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:.3f}"},
        )
        return _series(data)

    def firing_alerts(self) -> list[dict[str, Any]]:
        alerts = self._get("/api/v1/alerts", {}).get("alerts", [])
        return [a for a in alerts if a.get("state") == "firing"]

    def close(self) -> None:
        self.client.close()


def _series(data: dict[str, Any]) -> list[Series]:
    kind, result = data.get("resultType"), data.get("result", [])
    if kind == "vector":
        return [
            Series(dict(r["metric"]), [(float(r["value"][0]), float(r["value"][1]))])
            for r in result
        ]
    if kind == "matrix":
        return [
            Series(dict(r["metric"]), [(float(t), float(v)) for t, v in r["values"]])
            for r in result
        ]
    if kind == "scalar":
        return [Series({}, [(float(result[0]), float(result[1]))])]
    return []
