"""The saturation benchmark's load generator (wrk and our Lua script) against the real
portal: a logged-in session's pages are counted good, a bad session's are counted wrong."""

from __future__ import annotations

import re

import httpx
import pytest

from medsys.chaos import wrk_load
from tests.conftest import MedsysCluster

pytestmark = pytest.mark.integration


def test_wrk_loads_pages_with_the_sessions_it_is_given(cluster: MedsysCluster) -> None:
    base = cluster.settings.url("app3")
    with httpx.Client(base_url=base, timeout=30) as client:
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
        assert csrf
        form = {"csrf_token": csrf.group(1), "rut": "22222222-2"}
        logged = client.post("/login", data={**form, "password": cluster.password("22222222-2")})
        assert logged.status_code == 302
        session = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    good = wrk_load.saturate(
        base + "/history", [session], "Historial médico", connections=2, seconds=1
    )
    assert good.pages > 0 and good.wrong == 0 and good.socket_errors == 0
    assert good.p50_seconds > 0 and good.generator_cpu_seconds > 0
    mixed = wrk_load.saturate(
        base + "/history", [session, "session=forged"], "Historial médico", connections=2, seconds=1
    )
    # Every other request carries the forged cookie: the login page, not the history.
    assert mixed.pages > 0 and abs(mixed.wrong - mixed.pages / 2) <= 2
