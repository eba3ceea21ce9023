"""The prober's answers in the blackbox exporter's manner: one attempt per request."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from medsys.sla.journeys import Journeys
from medsys.sla.prober import prober_app


def _ask(app: Any, path: str, query: str = "", address: str = "127.0.0.1") -> tuple[str, str]:
    answered: list[str] = []
    environ = {"PATH_INFO": path, "QUERY_STRING": query, "REMOTE_ADDR": address}
    body: Iterable[bytes] = app(environ, lambda status, headers: answered.append(status))
    return answered[0], b"".join(body).decode()


def _journeys() -> Journeys:
    def broken() -> str | None:
        raise ConnectionError("refused\nsecond line never shown")

    return Journeys({"works": lambda: None, "says-no": lambda: "answered 503", "raises": broken})


def test_each_request_is_one_attempt_answered_like_the_blackbox_exporter() -> None:
    app = prober_app(_journeys(), token="")
    status, text = _ask(app, "/probe", "journey=works")
    assert status == "200 OK" and "probe_success 1.0" in text and "probe_duration_seconds" in text
    for failing in ("says-no", "raises"):
        status, text = _ask(app, "/probe", f"journey={failing}")
        assert status == "200 OK" and "probe_success 0.0" in text
    _, counted = _ask(app, "/metrics")
    assert 'medsys_journey_attempts_total{journey="works",result="success"} 1.0' in counted
    assert 'medsys_journey_attempts_total{journey="raises",result="failure"} 1.0' in counted


def test_an_unknown_journey_is_a_400_and_a_stranger_a_403() -> None:
    app = prober_app(_journeys(), token="")
    status, text = _ask(app, "/probe", "journey=nope")
    assert status.startswith("400") and "works" in text
    status, _ = _ask(app, "/probe", "journey=works", address="172.18.0.9")
    assert status.startswith("403")
    status, _ = _ask(app, "/metrics", address="172.18.0.9")
    assert status.startswith("403")
    assert _ask(app, "/health", address="172.18.0.9")[0] == "200 OK"
