"""Who the patients are: names, contact and coverage live in admin, and the clinical
workspace reaches them through the middleware, acting for the logged-in doctor or nurse
(a one-minute token clinical signs for that person; admin audits the read in their name).

When admin or the middleware cannot answer, the workspace goes on with what clinical
holds and says which part is missing: a doctor still sees the agenda and the chart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from medsys.core.auth import Caller
from medsys.core.relay import MiddlewareClient, Refused, Unavailable


@dataclass(frozen=True)
class Lookup:
    patients: dict[str, dict[str, Any]] = field(default_factory=dict)
    available: bool = True  # False: admin could not be asked; names are missing, not absent

    def name(self, rut: str | None) -> str | None:
        found = self.patients.get(rut or "")
        return str(found["nombre"]) if found else None

    def coverage(self, rut: str | None) -> str | None:
        found = self.patients.get(rut or "") or {}
        coverage = found.get("coverage")
        if not coverage:
            return None
        words = [str(coverage.get("insurer", "")).upper()]
        if coverage.get("tramo"):
            words.append(f"tramo {coverage['tramo']}")
        if coverage.get("plan"):
            words.append(str(coverage["plan"]))
        return " ".join(words)


class PatientRegistry:
    def __init__(self, client: MiddlewareClient) -> None:
        self.client = client

    def _ask(self, caller: Caller, params: dict[str, Any], request_id: str | None) -> Lookup:
        try:
            found = self.client.send(
                "GET",
                "/api/patients",
                role=caller.role,
                subject=caller.in_person(),
                request_id=request_id,
                params=params,
            )
        except (Unavailable, Refused):
            return Lookup(available=False)
        return Lookup({str(row["rut"]): row for row in found if isinstance(row, dict)})

    def lookup(self, caller: Caller, ruts: list[str], request_id: str | None = None) -> Lookup:
        wanted = sorted({rut for rut in ruts if rut})
        if not wanted:
            return Lookup()
        return self._ask(caller, {"rut": wanted, "per_page": 100}, request_id)

    def search(self, caller: Caller, text: str, request_id: str | None = None) -> Lookup:
        return self._ask(caller, {"q": text, "per_page": 30}, request_id)
