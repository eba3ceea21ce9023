"""The journeys only medsys can walk, each one attempt per call, answering whether it
worked: a patient's login and history, and a write on each database pair.

Each is given the time Prometheus gives a probe (``config.PROBE_TIMEOUT``) minus a margin,
so a slow attempt is counted as a failure rather than lost as a scrape timeout.
"""

from __future__ import annotations

import http.cookiejar
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from medsys.core.databases import pair_database
from medsys.core.secrets import Secrets
from medsys.core.settings import Settings
from medsys.core.topology import PAIRS, PROBE_TABLE

BUDGET_SECONDS = 3.5
HISTORY_DOWN = "no está disponible temporalmente"  # the portal's words when a part is down
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class Attempt:
    success: bool
    seconds: float
    detail: str = ""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer to look at (to the login page: the session ended)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class PatientHistory:
    """The synthetic patient (``portal.probe``) opens its history as a browser would: it
    keeps its session between attempts and logs in again when the portal asks. (The
    standard library's client: httpx would load a TLS context this plain-HTTP prober never
    uses, a tenth of its memory.)"""

    def __init__(self, settings: Settings, password: str, rut: str) -> None:
        self.password = password
        self.rut = rut
        self.base = settings.url("app3")
        self.browser = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirects()
        )

    def _get(self, path: str, form: dict[str, str] | None = None) -> tuple[int, str]:
        body = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.browser.open(self.base + path, data=body, timeout=BUDGET_SECONDS) as answer:
                return int(answer.status), answer.read().decode(errors="replace")
        except urllib.error.HTTPError as error:  # 3xx (not followed), 4xx, 5xx
            with error:
                return int(error.code), error.read().decode(errors="replace")

    def _log_in(self) -> str | None:
        status, page = self._get("/login")
        token = _CSRF.search(page)
        if status != 200 or token is None:
            return f"login page answered {status}"
        status, _ = self._get(
            "/login", {"rut": self.rut, "password": self.password, "csrf_token": token.group(1)}
        )
        return None if status in (302, 303) else f"login answered {status}"

    def __call__(self) -> str | None:
        status, page = self._get("/history")
        if status in (302, 303):
            problem = self._log_in()
            if problem:
                return problem
            status, page = self._get("/history")
        if status != 200:
            return f"history answered {status}"
        if HISTORY_DOWN in page:
            return "history page says the history is unavailable"
        return None


class PairWrite:
    """One committed write on the pair's primary, found as the applications find it."""

    def __init__(self, settings: Settings, pair: str, writer: str) -> None:
        self.database = pair_database(
            settings, pair, probe=True, failover_deadline=BUDGET_SECONDS - 0.5, pool_size=1
        )
        self.writer = writer
        self.sequence = 0

    def __call__(self) -> str | None:
        self.sequence += 1
        values = {"writer": self.writer, "at": time.time(), "sequence": self.sequence}

        def upsert(session: Session) -> None:
            updated = session.execute(
                text(
                    f"UPDATE {PROBE_TABLE} SET written_at = :at, sequence = :sequence "
                    "WHERE writer = :writer"
                ),
                values,
            )
            if updated.rowcount == 0:  # type: ignore[attr-defined]
                session.execute(
                    text(f"INSERT INTO {PROBE_TABLE} VALUES (:writer, :at, :sequence)"), values
                )

        self.database.write(upsert)
        return None


class Journeys:
    """Every prober journey by name; one attempt of a journey at a time."""

    def __init__(self, walks: dict[str, Callable[[], str | None]]) -> None:
        self._walks = walks
        self._locks = {name: threading.Lock() for name in walks}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._walks)

    def attempt(self, name: str) -> Attempt:
        walk = self._walks[name]
        with self._locks[name]:
            started = time.monotonic()
            try:
                problem = walk()
            except Exception as error:  # any failure of a journey is its answer
                problem = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
            return Attempt(problem is None, time.monotonic() - started, problem or "")


def every_journey(settings: Settings, secrets: Secrets, *, writer: str, rut: str) -> Journeys:
    walks: dict[str, Callable[[], str | None]] = {
        "patient-history": PatientHistory(settings, secrets.probe_portal_password, rut)
    }
    for pair in PAIRS:
        walks[f"write-{pair.name}"] = PairWrite(settings, pair.name, writer)
    return Journeys(walks)
